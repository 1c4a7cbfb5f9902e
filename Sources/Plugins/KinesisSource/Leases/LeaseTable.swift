import AWSCore
import PipelineHost

/// The DynamoDB calls of the lease protocol. Every change of ownership is a conditional write, so two hosts
/// never both believe they hold a lease for longer than one renewal round.
struct LeaseTable: Sendable {
    let dynamo: JSONProtocolClient
    let name: String

    /// Creates the table (on-demand capacity) unless it exists; several hosts may race to create it.
    func ensureExists() async throws {
        do {
            _ = try await dynamo.call("DescribeTable", ["TableName": .string(name)])
            return
        } catch let e as AWSError where e.code == "ResourceNotFoundException" {}
        do {
            _ = try await dynamo.call("CreateTable", .object([
                ("TableName", .string(name)),
                ("AttributeDefinitions", [["AttributeName": "leaseKey", "AttributeType": "S"]]),
                ("KeySchema", [["AttributeName": "leaseKey", "KeyType": "HASH"]]),
                ("BillingMode", "PAY_PER_REQUEST"),
            ]))
        } catch let e as AWSError where e.code == "ResourceInUseException" {
            // Another host created it first.
        }
        for _ in 0..<120 {
            let reply = try await dynamo.call("DescribeTable", ["TableName": .string(name)])
            if reply["Table"]?["TableStatus"]?.stringValue == "ACTIVE" { return }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw PipelineError(.source, "lease table did not become ACTIVE within 60 s", at: name)
    }

    /// Every lease, read consistently: decisions to take a lease start from the latest counters.
    func scan() async throws -> [Lease] {
        var leases: [Lease] = []
        var start: JSONValue?
        repeat {
            var input: [(String, JSONValue)] = [("TableName", .string(name)), ("ConsistentRead", true)]
            if let start { input.append(("ExclusiveStartKey", start)) }
            let reply = try await dynamo.call("Scan", .object(input))
            for item in reply["Items"]?.arrayValue ?? [] {
                if let lease = Lease(item: item) { leases.append(lease) }
            }
            start = reply["LastEvaluatedKey"].flatMap { $0.objectValue?.isEmpty == false ? $0 : nil }
        } while start != nil
        return leases
    }

    /// Adds a lease for a new shard; false when one exists already.
    func create(_ lease: Lease) async throws -> Bool {
        do {
            _ = try await dynamo.call("PutItem", .object([
                ("TableName", .string(name)), ("Item", lease.item),
                ("ConditionExpression", "attribute_not_exists(leaseKey)"),
            ]))
            return true
        } catch let e as AWSError where e.code == "ConditionalCheckFailedException" {
            return false
        }
    }

    /// Bumps the counter of a lease this host holds; nil when it is no longer ours (taken or stolen).
    func renew(_ key: String, owner: String) async throws -> Int64? {
        try await update(key, """
            SET leaseCounter = leaseCounter + :one
            """, condition: "leaseOwner = :me", values: [(":one", Lease.n(1)), (":me", Lease.s(owner))])?.counter
    }

    /// Takes a lease whose counter was seen at `counter` (expired, free, or stolen from an overloaded host);
    /// nil when someone changed it since. Returns the lease as it is now, with its checkpoint and state.
    func take(_ key: String, counter: Int64, owner: String) async throws -> Lease? {
        try await update(key, """
            SET leaseOwner = :me, leaseCounter = leaseCounter + :one, \
            ownerSwitchesSinceCheckpoint = if_not_exists(ownerSwitchesSinceCheckpoint, :zero) + :one
            """, condition: "leaseCounter = :seen",
            values: [(":me", Lease.s(owner)), (":one", Lease.n(1)), (":zero", Lease.n(0)), (":seen", Lease.n(counter))])
    }

    /// Stores the checkpoint (and the keyed state of the shard) of a lease this host holds; nil when it is
    /// no longer ours in the version seen (`counter`). Returns the lease's new counter (the write bumps it, as
    /// every change of a lease does).
    func checkpoint(_ key: String, owner: String, counter: Int64, checkpoint: String, state: String?) async throws -> Int64? {
        var set = "SET #cp = :cp, ownerSwitchesSinceCheckpoint = :zero, leaseCounter = leaseCounter + :one"
        var values: [(String, JSONValue)] = [(":cp", Lease.s(checkpoint)), (":zero", Lease.n(0)), (":one", Lease.n(1)),
                                             (":me", Lease.s(owner)), (":seen", Lease.n(counter))]
        if let state {
            set += ", pipelineState = :state"
            values.append((":state", Lease.s(state)))
        }
        return try await update(key, set, condition: "leaseOwner = :me AND leaseCounter = :seen", values: values, names: [("#cp", "checkpoint")])?.counter
    }

    /// One lease as stored now (a strongly consistent read); nil when there is none.
    func get(_ key: String) async throws -> Lease? {
        let reply = try await dynamo.call("GetItem", .object([
            ("TableName", .string(name)), ("Key", .object([("leaseKey", Lease.s(key))])), ("ConsistentRead", .bool(true)),
        ]))
        return reply["Item"].flatMap(Lease.init(item:))
    }

    /// Gives a lease up (at shutdown) so another host takes it at once instead of after the failover time.
    func release(_ key: String, owner: String) async throws {
        _ = try await update(key, "REMOVE leaseOwner SET leaseCounter = leaseCounter + :one",
                             condition: "leaseOwner = :me", values: [(":one", Lease.n(1)), (":me", Lease.s(owner))])
    }

    private func update(_ key: String, _ expression: String, condition: String, values: [(String, JSONValue)],
                        names: [(String, String)] = []) async throws -> Lease? {
        var input: [(String, JSONValue)] = [
            ("TableName", .string(name)),
            ("Key", .object([("leaseKey", Lease.s(key))])),
            ("UpdateExpression", .string(expression)),
            ("ConditionExpression", .string(condition)),
            ("ExpressionAttributeValues", .object(values)),
            ("ReturnValues", "ALL_NEW"),
        ]
        if !names.isEmpty { input.append(("ExpressionAttributeNames", .object(names.map { ($0.0, .string($0.1)) }))) }
        do {
            let reply = try await dynamo.call("UpdateItem", .object(input))
            return reply["Attributes"].flatMap(Lease.init(item:))
        } catch let e as AWSError where e.code == "ConditionalCheckFailedException" {
            return nil
        }
    }
}
