import AWSCore
import Foundation
import Testing

/// The cost of signing one GetRecords request (SigV4: canonical request, SHA-256s, 5 HMACs), printed as ns/op.
/// Off by default: `BENCH=1 swift test --filter SigningBenchmark` (numbers mean something in release builds:
/// `BENCH=1 swift test -c release --filter SigningBenchmark`).
@Suite struct SigningBenchmark {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["BENCH"] == "1"))
    func signOneKinesisRequest() {
        let signer = SigV4Signer(region: "us-east-1", service: "kinesis")
        let credentials = Credentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        let body = Array(#"{"ShardIterator":"AAAAAAAAAAHSywljv0zEgPX4NyKdZ5wryMzP9yALs8NeKbUjp1IxtZs1Sp+KEd9I6AJ9ZG4lNR1EMi+9Md/nHvtLyxpfhEzYvkTZ4D9DQVz/mBYWRO6OTZRKnW9gd+efGN2aHFdkH1rJl4BL9Wyrk+ghYG22D2T1Da2EyNSH1+LAbK33gQweTJADBdyMwlo5r6PqcP2dzhg=","Limit":10000}"#.utf8)
        let headers = [("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "Kinesis_20131202.GetRecords")]
        let date = Date(timeIntervalSince1970: 1_715_936_400)
        var sink = 0
        for _ in 0..<1000 {  // warm-up
            sink &+= signer.sign(method: "POST", host: "kinesis.us-east-1.amazonaws.com", path: "/", query: "", headers: headers,
                                 payload: .bytes(body), credentials: credentials, date: date).count
        }
        let iterations = 20_000
        let start = ContinuousClock.now
        for _ in 0..<iterations {
            sink &+= signer.sign(method: "POST", host: "kinesis.us-east-1.amazonaws.com", path: "/", query: "", headers: headers,
                                 payload: .bytes(body), credentials: credentials, date: date).count
        }
        let elapsed = ContinuousClock.now - start
        let ns = (Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9) / Double(iterations)
        print("sigv4 sign (GetRecords, \(body.count)-byte body): \(Int(ns)) ns/op over \(iterations) iterations [\(sink % 2)]")
        #expect(ns > 0)
    }
}
