import AWSCore
import Foundation
import PipelineHost
import TestSupport

@testable import KinesisSource

/// One invariant's outcome: how much was checked, how many violations, and the first few with their evidence.
struct SimInvariant: Sendable {
    var number: Int
    var name: String
    var checked = 0
    var violations = 0
    var examples: [String] = []
    /// Counts worth reporting besides checked/violations (duplicates, allowed duplicates, …).
    var notes: [String] = []

    static let maxExamples = 5

    mutating func fail(_ example: @autoclosure () -> String) {
        violations += 1
        guard examples.count < Self.maxExamples else { return }
        let text = example()
        if let i = examples.firstIndex(of: text) ?? examples.firstIndex(where: { $0.hasPrefix(text + " (×") }) {
            // The same violation again (a record published or written several times): count it on the first.
            let times = examples[i].hasSuffix(")") ? Int(examples[i].split(separator: "×").last?.dropLast() ?? "") ?? 1 : 1
            examples[i] = text + " (×\(times + 1))"
        } else {
            examples.append(text)
        }
    }

    var passed: Bool { violations == 0 }
    var summary: String {
        "[\(passed ? "ok" : "FAIL")] \(number). \(name): \(checked) checked, \(violations) violations"
            + (notes.isEmpty ? "" : "; " + notes.joined(separator: "; "))
    }
}

/// Where a record may legitimately be read twice (docs/guarantees.md, "Where duplicates come from with
/// leases"): records of `shard` after `checkpoint` that were put before `until`, because of `why`.
struct SimAllowance: Sendable {
    var shard: String
    var checkpoint: String
    var until: Date
    var why: String

    func covers(_ r: SimRecord) -> Bool {
        guard r.shard == shard, r.putAt < until else { return false }
        return !SequenceNumber.isSequence(checkpoint) || SequenceNumber.isAfter(r.sequence, checkpoint)
    }
}

/// Everything read back after the final stop.
struct SimObservations: Sendable {
    var current: [String: [String]]
    var versions: [String: [(version: SimS3.Version, lines: [String])]]
    var alerts: [String]
    var deadLetters: [SimDeadLetter]
}

/// Checks the seven invariants (docs/simulation.md) against the reference computed from what was produced.
struct SimChecker {
    let world: SimWorld
    let produced: [SimRecord]
    let expected: [String: SimFeatures]
    let observed: SimObservations

    var byID: [String: SimRecord] { Dictionary(produced.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a }) }

    func check() -> [SimInvariant] {
        let byID = self.byID
        let good = produced.filter(\.isGood)
        let bad = produced.filter { !$0.isGood }
        let allowances = self.allowances()
        let t0 = world.events.start
        func at(_ d: Date) -> String { String(format: "%.2fs", d.timeIntervalSince(t0)) }
        func describe(_ r: SimRecord) -> String {
            "\(r.id) (user \(r.user), t=\(Int64(r.time)), \(r.shard)@\(r.sequence), step \(r.step + 1), put at \(at(r.putAt)))"
        }

        // Every copy of every record in the archive, with the object it is in.
        var copies: [String: [(key: String, record: Record)]] = [:]
        var unreadable: [(String, String)] = []
        for (key, lines) in observed.current.sorted(by: { $0.key < $1.key }) {
            for line in lines {
                guard let r = SimReadBack.record(line), let id = r["transaction_id"]?.stringValue else {
                    unreadable.append((key, String(line.prefix(200))))
                    continue
                }
                copies[id, default: []].append((key, r))
            }
        }

        // 1. Nothing lost; duplicates only where the guarantees allow them.
        var lost = SimInvariant(number: 1, name: "every good record in S3; duplicates only after the last checkpoint before a kill/steal/lease loss")
        lost.checked = good.count
        let deadLettered = Dictionary(grouping: observed.deadLetters.filter { $0.transactionID != nil }, by: { $0.transactionID! })
        var lostCount = 0
        for r in good where copies[r.id] == nil {
            lostCount += 1
            let dl = deadLettered[r.id]?.first.map { " — dead-lettered by \($0.file) stage \($0.stage): \($0.reason)" } ?? ""
            lost.fail("lost: \(describe(r))\(dl)\n      lease of \(r.shard): \(leaseHistory(r.shard, around: r.putAt))")
        }
        var duplicated = 0, extra = 0, allowedDuplicates = 0
        for r in good {
            guard let c = copies[r.id], c.count > 1 else { continue }
            duplicated += 1
            extra += c.count - 1
            if allowances.contains(where: { $0.covers(r) }) {
                allowedDuplicates += 1
            } else {
                let keys = c.map { $0.key.split(separator: "/").last.map(String.init) ?? $0.key }.joined(separator: ", ")
                let near = allowances.filter { $0.shard == r.shard }.map { "after \($0.checkpoint) until \(at($0.until)) (\($0.why))" }
                lost.fail("duplicate not allowed: \(describe(r)) ×\(c.count) in \(keys)\n      allowances on \(r.shard): \(near.isEmpty ? "none" : near.joined(separator: "; "))\n      lease of \(r.shard): \(leaseHistory(r.shard, around: r.putAt))")
            }
        }
        let unknown = copies.keys.filter { byID[$0] == nil }
        for id in unknown.sorted().prefix(3) { lost.fail("a record nobody produced is in S3: \(id)") }
        for (key, line) in unreadable.prefix(3) { lost.fail("unreadable line in \(key): \(line)") }
        lost.notes = ["\(good.count) good records produced, \(good.count - lostCount) in S3, \(lostCount) lost, \(duplicated) duplicated (\(extra) extra copies, \(allowedDuplicates) of the records allowed)",
                      "\(allowances.count) allowance windows"]
        if !unknown.isEmpty || !unreadable.isEmpty { lost.notes.append("\(unknown.count) unknown ids, \(unreadable.count) unreadable lines") }

        // 2. Features of every copy equal the reference.
        var features = SimInvariant(number: 2, name: "every copy's rolling features equal the reference (per user, good records, production order)")
        for r in good {
            guard let c = copies[r.id], let want = expected[r.id] else { continue }
            for (key, record) in c {
                features.checked += 1
                let (got, problem) = SimFeatures.read(record)
                var issues: [String] = []
                if let problem { issues.append(problem) } else if got != want { issues.append("got \(got!), want \(want)") }
                if record["user_id"]?.stringValue != r.user || record["event_created_at_ts"]?.doubleValue != r.time
                    || record["transaction_value"]?.doubleValue != r.value {
                    issues.append("input fields changed: user \(record["user_id"].map { "\($0)" } ?? "-") t \(record["event_created_at_ts"].map { "\($0)" } ?? "-") value \(record["transaction_value"].map { "\($0)" } ?? "-")")
                }
                if !issues.isEmpty {
                    features.fail("\(describe(r)) in \(key): \(issues.joined(separator: "; "))\n      \(userHistory(r))\n      \(evidence(r, key: key))")
                }
            }
        }
        features.notes = ["\(Set(copies.keys).intersection(good.map(\.id)).count) records, \(features.checked) copies compared field by field"]

        // 3. No key replaced by a version with fewer records.
        var versions = SimInvariant(number: 3, name: "no S3 key replaced by a version with fewer records")
        var multi = 0, totalVersions = 0
        for (key, list) in observed.versions.sorted(by: { $0.key < $1.key }) {
            totalVersions += list.count
            guard list.count > 1 else { continue }
            multi += 1
            // ListObjectVersions lists a key's versions newest first (moto orders them by their millisecond
            // timestamps; LastModified only shows seconds): compare each version with the one it replaced.
            let oldestFirst = Array(list.reversed())
            for (older, newer) in zip(oldestFirst, oldestFirst.dropFirst()) {
                versions.checked += 1
                if newer.lines.count < older.lines.count {
                    let newerIDs = Set(newer.lines.compactMap { SimReadBack.record($0)?["transaction_id"]?.stringValue })
                    let dropped = older.lines.compactMap { SimReadBack.record($0)?["transaction_id"]?.stringValue }.filter { !newerIDs.contains($0) }
                    let back = dropped.filter { id in (copies[id] ?? []).contains { $0.key == key } }.count
                    let elsewhere = dropped.filter { id in (copies[id] ?? []).contains { $0.key != key } }.count
                    let gone = dropped.filter { copies[$0] == nil }.count
                    versions.fail("\(key): version \(older.version.lastModified) (\(older.version.versionID.prefix(8))) with \(older.lines.count) records replaced by \(newer.version.lastModified) with \(newer.lines.count); "
                        + "\(dropped.count) records dropped (e.g. \(dropped.prefix(3).joined(separator: ", "))); at the end \(back) of them are back in the key's latest version, \(elsewhere) in another object, \(gone) nowhere in S3\n      writers of the key: \(writers(of: key))")
                }
            }
        }
        versions.notes = ["\(observed.versions.count) keys, \(totalVersions) versions, \(multi) keys written more than once"]

        // 4. Every alert published (SNS → SQS); duplicates allowed, but with the reference features.
        var alerts = SimInvariant(number: 4, name: "every alert record published to SNS (read back through SQS), with the reference features")
        var published: [String: Int] = [:]
        for body in observed.alerts {
            guard let r = SimReadBack.record(body), let id = r["transaction_id"]?.stringValue else {
                alerts.fail("unreadable message: \(body.prefix(200))")
                continue
            }
            published[id, default: 0] += 1
            guard let p = byID[id], p.isGood, p.isAlert else {
                alerts.fail("published although not an alert: \(id)")
                continue
            }
            if let want = expected[id], SimFeatures.read(r).features != want {
                alerts.fail("alert \(describe(p)) published with \(SimFeatures.read(r).features.map { "\($0)" } ?? SimFeatures.read(r).problem ?? "?"), want \(want)")
            }
        }
        let wantedAlerts = good.filter(\.isAlert)
        alerts.checked = wantedAlerts.count
        for r in wantedAlerts where published[r.id] == nil {
            alerts.fail("alert never published: \(describe(r))")
        }
        alerts.notes = ["\(wantedAlerts.count) alerts produced, \(observed.alerts.count) messages, \(published.values.filter { $0 > 1 }.count) published more than once"]

        // 5. Bad records dead-lettered with a reason; no good record dead-lettered; no bad record archived.
        var dead = SimInvariant(number: 5, name: "every bad record dead-lettered with a reason and nowhere else; no good record dead-lettered")
        dead.checked = produced.count  // every bad record must be there, every good one must not
        for r in bad {
            let entries = deadLettered[r.id] ?? []
            if entries.isEmpty {
                let inS3 = copies[r.id].map { c in " — it is in S3 instead (\(c.count)×, features \(SimFeatures.read(c[0].record).features.map { "\($0)" } ?? "none"))" } ?? ""
                dead.fail("bad record (\(r.bad!.rawValue)) not dead-lettered: \(describe(r))\(inS3)")
            } else if entries.contains(where: { $0.reason.isEmpty }) {
                dead.fail("bad record \(r.id) dead-lettered without a reason")
            } else if copies[r.id] != nil {
                dead.fail("bad record \(r.id) dead-lettered and also in S3")
            }
        }
        var goodDead = 0
        for r in good {
            guard let entries = deadLettered[r.id] else { continue }
            goodDead += 1
            dead.fail("good record dead-lettered: \(describe(r)) by \(entries[0].file), stage \(entries[0].stage): \(entries[0].reason)")
        }
        let unmatched = observed.deadLetters.filter { $0.transactionID == nil || byID[$0.transactionID!] == nil }
        for e in unmatched.prefix(3) { dead.fail("dead letter of no produced record: \(e.file) \(e.stage) \(e.reason) \(e.payload.prefix(120))") }
        let reasons = Dictionary(grouping: observed.deadLetters.filter { id in byID[id.transactionID ?? ""].map { !$0.isGood } ?? false }, by: { byID[$0.transactionID!]!.bad!.rawValue })
            .map { "\($0.key) → \"\($0.value[0].stage): \($0.value[0].reason.prefix(90))\"" }.sorted()
        dead.notes = ["\(observed.deadLetters.count) dead-letter entries, \(bad.count) bad records, \(goodDead) good records dead-lettered"] + reasons

        // 6. Every SIGTERM exits 0; no host exits on its own except by design under a 5xx burst.
        var exits = SimInvariant(number: 6, name: "every SIGTERM (schedule and final stop) exits 0 and releases its leases; no host exits on its own")
        let faults = world.faults
        for e in world.exits {
            switch e.cause {
            case .sigterm, .finalStop:
                exits.checked += 1
                if e.code != 0 {
                    exits.fail("\(e.worker) (generation \(e.generation)) exited \(e.code) after \(e.cause.rawValue) at \(at(e.time)), \(String(format: "%.1f", e.seconds))s after the signal\n      \(logTail(e.logPath))")
                    continue
                }
                // A graceful stop releases every lease it held (docs/guarantees.md, "Shutdown"): the first scan
                // begun after the exit, before the same worker id starts again, shows none owned by it.
                let restart = world.starts.filter { $0.worker == e.worker && $0.time > e.time }.map(\.time).min() ?? .distantFuture
                if let scan = world.leaseSnapshots.first(where: { $0.began > e.time }), scan.time < restart {
                    let kept = scan.leases.filter { $0.value.owner == e.worker && $0.value.checkpoint != "SHARD_END" }.map(\.key).sorted()
                    if !kept.isEmpty {
                        exits.fail("\(e.worker) exited 0 after \(e.cause.rawValue) at \(at(e.time)) but still owns \(kept.joined(separator: ", ")) in the scan at \(at(scan.time)): leases not released\n      \(logTail(e.logPath))")
                    }
                }
            case .unexpected:
                exits.checked += 1
                let during = faults.first { f in
                    (f.kind == .dynamoError || f.kind == .dynamoStall) && f.workers.contains(e.worker) && e.time >= f.start && e.time <= f.end.addingTimeInterval(10)
                }
                if let during {
                    exits.notes.append("\(e.worker) stopped itself (exit \(e.code)) at \(at(e.time)) during/after the \(during.kind.rawValue) window \(at(during.start))–\(at(during.end)): lease-table retries spent stop the pipeline by design (restarted)")
                } else {
                    exits.fail("\(e.worker) (generation \(e.generation)) exited on its own with \(e.code) at \(at(e.time))\n      \(logTail(e.logPath))")
                }
            case .kill9:
                break
            }
        }
        // 7. After the final graceful stop, every lease is released and checkpointed at its shard's last record.
        var final = SimInvariant(number: 7, name: "after the final stop every lease is released and checkpointed at its shard's last record")
        let lastSequence = Dictionary(grouping: produced, by: \.shard).mapValues { records in
            records.map(\.sequence).max { SequenceNumber.isAfter($1, $0) }!
        }
        if let scan = world.leaseSnapshots.last {
            for (shard, last) in lastSequence.sorted(by: { $0.key < $1.key }) {
                final.checked += 1
                guard let lease = scan.leases[shard] else {
                    final.fail("\(shard) has no lease")
                    continue
                }
                if lease.owner != nil { final.fail("\(shard) still owned by \(lease.owner!) after every host stopped") }
                if lease.checkpoint != last && !(SequenceNumber.isSequence(lease.checkpoint) && SequenceNumber.isAfter(lease.checkpoint, last)) {
                    let behind = produced.filter { $0.shard == shard && (!SequenceNumber.isSequence(lease.checkpoint) || SequenceNumber.isAfter($0.sequence, lease.checkpoint)) }.count
                    final.fail("\(shard) checkpointed at \(lease.checkpoint), its last record is \(last): \(behind) records would be read again\n      \(stuck(shard, at: lease.checkpoint))")
                }
            }
        } else {
            final.fail("no scan of the lease table")
        }

        let all = world.exits
        exits.notes.insert("\(all.filter { $0.cause == .sigterm }.count) SIGTERMs in the schedule, \(all.filter { $0.cause == .finalStop }.count) at the final stop, "
            + "\(all.filter { $0.cause == .kill9 }.count) kill -9, \(all.filter { $0.cause == .unexpected }.count) exits on their own", at: 0)
        final.notes = ["\(final.checked) leases"]
        return [lost, features, versions, alerts, dead, exits, final]
    }

    // MARK: Allowed duplicates

    /// Every stretch in which a record may have been read by two hosts (or twice by one): each time a lease
    /// changed hands (seen by the monitor), each kill -9, each DynamoDB fault and each forced steal.
    func allowances() -> [SimAllowance] {
        let snaps = world.leaseSnapshots
        let faults = world.faults
        let failover = SimSchedule.failoverTime
        var out: [SimAllowance] = []

        /// The lowest checkpoint of `shard` in the snapshots of [from, to] (checkpoints only move forward).
        func lowest(_ shard: String, from: Date, to: Date) -> String? {
            var low: String?
            for s in snaps where s.time >= from && s.time <= to {
                guard let cp = s.leases[shard]?.checkpoint else { continue }
                if !SequenceNumber.isSequence(cp) { return cp }
                if let l = low, SequenceNumber.isSequence(l), !SequenceNumber.isAfter(l, cp) { continue }
                low = cp
            }
            return low
        }
        /// The end of a DynamoDB fault on `worker` that had begun by `time` (its reads go on while it cannot renew).
        func faultEnd(_ worker: String?, by time: Date) -> Date? {
            faults.filter { ($0.kind == .dynamoStall || $0.kind == .dynamoError) && $0.start <= time && $0.workers.contains(worker ?? "") }.map(\.end).max()
        }

        for (prev, cur) in zip(snaps, snaps.dropFirst()) {
            for (shard, now) in cur.leases {
                guard let before = prev.leases[shard], let owner = now.owner else { continue }
                if before.owner != owner || now.switches > before.switches {
                    let end = max(cur.time, faultEnd(before.owner, by: cur.time) ?? cur.time).addingTimeInterval(2 * failover)
                    out.append(SimAllowance(shard: shard, checkpoint: before.checkpoint, until: end,
                                            why: "taken by \(owner) from \(before.owner ?? "nobody") at \(world.events.offset(cur.time))"))
                }
            }
        }
        for f in faults {
            switch f.kind {
            case .kill9, .dynamoStall, .dynamoError:
                let from = f.start.addingTimeInterval(-2)
                let to = f.kind == .kill9 ? f.start.addingTimeInterval(1) : f.end.addingTimeInterval(2 * failover)
                let until = f.kind == .kill9 ? f.start : f.end.addingTimeInterval(2 * failover)
                var shards = Set<String>()
                for s in snaps where s.time >= from && s.time <= to {
                    for (shard, l) in s.leases where l.owner.map(f.workers.contains) ?? false { shards.insert(shard) }
                }
                for shard in shards {
                    guard let cp = lowest(shard, from: from, to: to) else { continue }
                    out.append(SimAllowance(shard: shard, checkpoint: cp, until: until, why: "\(f.kind.rawValue) of \(f.workers.joined(separator: ",")) at \(world.events.offset(f.start))"))
                }
            case .forceSteal:
                if let shard = f.shard, let cp = f.checkpoint {
                    out.append(SimAllowance(shard: shard, checkpoint: cp, until: f.start.addingTimeInterval(2 * failover), why: "forced steal at \(world.events.offset(f.start))"))
                }
            case .sigterm, .s3Stall, .extraHostStop:
                break
            }
        }
        return out
    }

    // MARK: Evidence

    /// Owner changes of a lease from 15 s before to 15 s after `time`.
    func leaseHistory(_ shard: String, around time: Date) -> String {
        var out: [String] = []
        var last: SimLeaseView?
        for s in world.leaseSnapshots where s.time >= time.addingTimeInterval(-15) && s.time <= time.addingTimeInterval(15) {
            guard let l = s.leases[shard] else { continue }
            if last == nil || last!.owner != l.owner || l.switches > last!.switches {
                out.append("\(world.events.offset(s.time)) \(l.owner ?? "-") cp \(l.checkpoint) (state \(l.state))")
            }
            last = l
        }
        return out.isEmpty ? "(no scans)" : out.joined(separator: " → ")
    }

    /// Which hosts PUT an object key, when, with what status (from the per-host S3 proxies).
    func writes(of key: String) -> [(slot: Int, write: StallProxy.Write)] {
        let encoded = SimS3.path(SimWorld.archive, key)
        var out: [(slot: Int, write: StallProxy.Write)] = []
        for (slot, p) in world.s3Proxies.enumerated() {
            for w in p.writes where w.what.hasPrefix(encoded) || w.what.hasPrefix("/" + SimWorld.archive + "/" + key) { out.append((slot, w)) }
        }
        return out.sorted { $0.write.time < $1.write.time }
    }

    func writers(of key: String) -> String {
        let all = writes(of: key)
        let shown = all.prefix(8).map { "h\($0.slot + 1) \($0.write.method) at \(world.events.offset($0.write.time)) → \($0.write.status)\($0.write.stalled ? " (stalled)" : "")" }
        return all.isEmpty ? "(none seen)" : shown.joined(separator: ", ") + (all.count > 8 ? ", … \(all.count - 8) more" : "")
    }

    /// The lines of a slot's host logs (every generation) about `shard` between `from` and `to`, leases and warnings only.
    func hostLog(slot: Int, shard: String, from: Date, to: Date, limit: Int = 8) -> [String] {
        let dir = world.dir + "/logs"
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("h\(slot + 1)-gen") }.sorted()
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var out: [(Date, String)] = []
        for f in files {
            let text = (try? String(contentsOfFile: dir + "/" + f, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") where line.contains(shard) && (line.contains("lease") || line.contains("\"warning\"") || line.contains("\"error\"")) {
                guard let r = line.range(of: #""ts":""#) else { continue }
                let ts = String(line[r.upperBound...].prefix { $0 != "\"" })
                guard let time = iso.date(from: ts), time >= from, time <= to else { continue }
                let msg = line.range(of: #""msg":""#).map { String(line[$0.upperBound...].prefix(220)) } ?? String(line.prefix(220))
                out.append((time, "\(world.events.offset(time)) \(f.replacingOccurrences(of: ".log", with: "")): \(msg)"))
            }
        }
        let sorted = out.sorted { $0.0 < $1.0 }.map(\.1)
        return sorted.count <= limit ? sorted : Array(sorted.prefix(limit / 2)) + ["…"] + Array(sorted.suffix(limit / 2))
    }

    /// Evidence for a lease whose checkpoint stopped moving: since when, how often it changed hands since, and
    /// what each host's log says about the shard since (messages counted).
    func stuck(_ shard: String, at checkpoint: String) -> String {
        let snaps = world.leaseSnapshots
        guard let first = snaps.first(where: { $0.leases[shard]?.checkpoint == checkpoint })?.time else { return "(never seen at \(checkpoint))" }
        var takes: [String: Int] = [:]
        for (a, b) in zip(snaps, snaps.dropFirst()) where b.time >= first {
            guard let x = a.leases[shard], let y = b.leases[shard], let owner = y.owner else { continue }
            if y.switches > x.switches || y.owner != x.owner { takes[owner, default: 0] += 1 }
        }
        var out = ["checkpoint at \(checkpoint) since \(world.events.offset(first)); taken since: "
            + (takes.isEmpty ? "never" : takes.sorted { $0.key < $1.key }.map { "\($0.value)× by \($0.key)" }.joined(separator: ", "))]
        for slot in 0..<SimWorld.slots {
            let counts = logMessages(slot: slot, shard: shard, from: first.addingTimeInterval(-2), to: .distantFuture)
            if !counts.isEmpty { out.append("h\(slot + 1) log about \(shard) since: " + counts.map { "\($0.count)× \"\($0.message)\"" }.joined(separator: ", ")) }
        }
        return out.joined(separator: "\n      ")
    }

    /// The messages of a slot's logs about `shard` in a time range, counted, most frequent first.
    func logMessages(slot: Int, shard: String, from: Date, to: Date) -> [(message: String, count: Int)] {
        let dir = world.dir + "/logs"
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("h\(slot + 1)-gen") }
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var counts: [String: Int] = [:]
        for f in files {
            let text = (try? String(contentsOfFile: dir + "/" + f, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") where line.contains(shard) {
                guard let r = line.range(of: #""ts":""#), let m = line.range(of: #""msg":""#) else { continue }
                guard let time = iso.date(from: String(line[r.upperBound...].prefix { $0 != "\"" })), time >= from, time <= to else { continue }
                counts[String(line[m.upperBound...].prefix { $0 != "\"" }), default: 0] += 1
            }
        }
        return counts.map { ($0.key, $0.value) }.sorted { $0.count > $1.count }
    }

    /// Evidence for a record whose copy in `key` is wrong: the hosts that wrote the key and what their logs say
    /// about the record's shard from its put to the last write.
    func evidence(_ r: SimRecord, key: String) -> String {
        let all = writes(of: key)
        var out = ["writers of the key: \(writers(of: key))", "lease of \(r.shard): \(leaseHistory(r.shard, around: r.putAt))"]
        for slot in Set(all.map(\.slot)).sorted() {
            let lines = hostLog(slot: slot, shard: r.shard, from: r.putAt.addingTimeInterval(-10), to: (all.last?.write.time ?? r.putAt).addingTimeInterval(2))
            if !lines.isEmpty { out.append("h\(slot + 1) log about \(r.shard):\n          " + lines.joined(separator: "\n          ")) }
        }
        return out.joined(separator: "\n      ")
    }

    /// The user's good records before this one (the reference's input), briefly.
    func userHistory(_ r: SimRecord) -> String {
        let before = produced.filter { $0.user == r.user && $0.isGood }.prefix { $0.id != r.id }
        let shown = before.suffix(6).map { "\($0.id)@t=\(Int64($0.time)) v=\($0.value!)" }.joined(separator: ", ")
        return "user \(r.user) had \(before.count) earlier good records: …\(shown)"
    }

    /// The last warning/error lines of a host log.
    func logTail(_ path: String, lines: Int = 4) -> String {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let interesting = text.split(separator: "\n").filter { $0.contains("\"error\"") || $0.contains("\"critical\"") || $0.contains("\"warning\"") }
        return "log \(path): " + (interesting.suffix(lines).map { String($0.prefix(400)) }.joined(separator: "\n        ")).ifEmpty("(no warnings)")
    }
}

extension String {
    func ifEmpty(_ other: String) -> String { isEmpty ? other : self }
}
