// SigV4 signing cost of one Kinesis GetRecords request (canonical request, payload SHA-256, 5 HMAC-SHA256s):
// the per-call CPU the AWS layer adds before a byte goes on the wire. Run by bench/signing.sh in a release build.
import AWSCore
import Foundation

let signer = SigV4Signer(region: "us-east-1", service: "kinesis")
let credentials = Credentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
let body = Array(#"{"ShardIterator":"AAAAAAAAAAHSywljv0zEgPX4NyKdZ5wryMzP9yALs8NeKbUjp1IxtZs1Sp+KEd9I6AJ9ZG4lNR1EMi+9Md/nHvtLyxpfhEzYvkTZ4D9DQVz/mBYWRO6OTZRKnW9gd+efGN2aHFdkH1rJl4BL9Wyrk+ghYG22D2T1Da2EyNSH1+LAbK33gQweTJADBdyMwlo5r6PqcP2dzhg=","Limit":10000}"#.utf8)
let headers = [("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "Kinesis_20131202.GetRecords")]
let date = Date(timeIntervalSince1970: 1_715_936_400)

func sign() -> Int {
    signer.sign(method: "POST", host: "kinesis.us-east-1.amazonaws.com", path: "/", query: "", headers: headers,
                payload: .bytes(body), credentials: credentials, date: date).count
}

let iterations = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 50_000
var sink = 0
for _ in 0..<2000 { sink &+= sign() }  // warm-up
var runs: [Double] = []
for _ in 0..<5 {
    let start = ContinuousClock.now
    for _ in 0..<iterations { sink &+= sign() }
    let elapsed = ContinuousClock.now - start
    runs.append((Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9) / Double(iterations))
}
runs.sort()
print(String(format: "swift sigv4 sign (GetRecords, %d-byte body): median %.2f µs/op (min %.2f, max %.2f) over 5×%d [%d]",
             body.count, runs[2] / 1000, runs[0] / 1000, runs[4] / 1000, iterations, sink % 2))
