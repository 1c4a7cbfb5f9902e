// libFuzzer's entry point for programs that have their own main (compiler-rt FuzzerInterface.h).
// SwiftPM links an executable target's main as <Module>_main, so each fuzz target starts libFuzzer itself.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
