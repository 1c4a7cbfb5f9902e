import Synchronization

/// A single-consumer channel between two stages with high/low-watermark backpressure (as in SwiftNIO's
/// `HighLowWatermark`): senders suspend once `high` elements are buffered and resume only when the
/// consumer has drained it to `low`, so a slow stage slows the ones before it and memory stays bounded.
final class BoundedChannel<Element: Sendable>: Sendable {
    struct Closed: Error {}

    private struct State {
        /// Popped slots are nil: an element left in the buffer after it was handed out would share its arrays
        /// with the receiver, and the receiver's first change to them would copy them all (copy on write).
        var buffer: [Element?] = []
        var head = 0
        var writable = true
        var closed = false
        /// The high watermark in force: `startHigh` until `settle()`, then `high`.
        var high: Int
        var receiver: CheckedContinuation<Element?, Never>?
        var senders: [(Element, CheckedContinuation<Void, any Error>)] = []
        var count: Int { buffer.count - head }
        mutating func pop() -> Element {
            let e = buffer[head].take()!
            head += 1
            if head > 64 && head * 2 > buffer.count {
                buffer.removeFirst(head)
                head = 0
            }
            return e
        }
    }

    private enum SendAction { case resumeReceiver(CheckedContinuation<Element?, Never>), done, wait, closed }

    let high: Int
    let low: Int
    private let state: Mutex<State>

    /// `startHigh`: a higher mark until `settle()`, for a consumer that is still starting (the source reads ahead
    /// while a reference table loads).
    init(high: Int, low: Int? = nil, startHigh: Int? = nil) {
        precondition(high >= 1)
        self.high = high
        self.low = min(low ?? high / 2, high - 1)
        state = Mutex(State(high: max(high, startHigh ?? high)))
    }

    /// From now on the mark is `high`: senders wait once that much is buffered (and until it drains to `low`).
    func settle() {
        state.withLock { s in
            s.high = high
            if s.count >= high { s.writable = false }
        }
    }

    /// `element` is moved through, never copied: a batch the sender still held a copy of while the receiver
    /// changes it would be copied on its first write.
    func send(_ element: consuming Element) async throws {
        var slot: Element? = consume element
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            let action: SendAction = state.withLock { s in
                if s.closed { return .closed }
                if let r = s.receiver {
                    s.receiver = nil
                    return .resumeReceiver(r)
                }
                if s.writable {
                    s.buffer.append(slot.take()!)
                    if s.count >= s.high { s.writable = false }
                    return .done
                }
                s.senders.append((slot.take()!, c))
                return .wait
            }
            switch action {
            case .resumeReceiver(let r):
                r.resume(returning: slot.take()!)
                c.resume()
            case .done: c.resume()
            case .wait: break
            case .closed: c.resume(throwing: Closed())
            }
        }
    }

    /// The next element, or nil once the channel is closed and drained.
    func receive() async -> Element? {
        await withCheckedContinuation { (c: CheckedContinuation<Element?, Never>) in
            let (result, wake): (Element??, [CheckedContinuation<Void, any Error>]) = state.withLock { s in
                if s.count > 0 {
                    let e = s.pop()
                    var wake: [CheckedContinuation<Void, any Error>] = []
                    if !s.writable && s.count <= low {
                        // Admit the waiting senders' elements up to the high mark again.
                        while !s.senders.isEmpty && s.count < s.high {
                            let (el, sc) = s.senders.removeFirst()
                            s.buffer.append(el)
                            wake.append(sc)
                        }
                        s.writable = s.senders.isEmpty && s.count < s.high
                    }
                    return (.some(e), wake)
                }
                if !s.senders.isEmpty {
                    let (el, sc) = s.senders.removeFirst()
                    return (.some(el), [sc])
                }
                if s.closed { return (.some(nil), []) }
                s.receiver = c
                return (nil, [])
            }
            for w in wake { w.resume() }
            if let result { c.resume(returning: result) }
        }
    }

    /// No more sends; the consumer drains what is buffered and then gets nil. Waiting senders fail.
    func close() {
        let (receiver, senders): (CheckedContinuation<Element?, Never>?, [(Element, CheckedContinuation<Void, any Error>)]) = state.withLock { s in
            s.closed = true
            let r = s.count == 0 ? s.receiver : nil
            if r != nil { s.receiver = nil }
            let ss = s.senders
            s.senders = []
            return (r, ss)
        }
        receiver?.resume(returning: nil)
        for (_, c) in senders { c.resume(throwing: Closed()) }
    }

    var bufferedCount: Int { state.withLock { $0.count + $0.senders.count } }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// Hands `element` over only when the channel is idle (nothing buffered, nobody waiting to send, the receiver
    /// waiting): for a timer's tick, which is pointless while work is queued. Never waits. Returns whether it went.
    @discardableResult
    func offerIfIdle(_ element: consuming Element) -> Bool {
        let receiver: CheckedContinuation<Element?, Never>? = state.withLock { s in
            guard !s.closed, s.count == 0, s.senders.isEmpty, let r = s.receiver else { return nil }
            s.receiver = nil
            return r
        }
        guard let receiver else { return false }
        receiver.resume(returning: element)
        return true
    }
}
