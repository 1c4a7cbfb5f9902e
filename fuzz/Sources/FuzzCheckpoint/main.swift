import CFuzzerDriver
import Glibc

// libFuzzer's own main is not the one SwiftPM links; hand control to its driver.
var argc = CommandLine.argc
var argv = Optional(CommandLine.unsafeArgv)
exit(LLVMFuzzerRunDriver(&argc, &argv, { data, size in fuzzCheckpoint(data, size) }))
