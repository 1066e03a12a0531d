import CReactor

/// A reactor's signalfd and the task that reads it: made by the reactor's first
/// ``SignalSequence``, kept until it shuts down. Loop-thread state.
final class SignalListener: @unchecked Sendable {
    private let signalfd: IOHandle
    /// How many of the reactor's subscriptions want each signal; the signalfd's mask.
    private var subscriptionCounts: [Int32: Int] = [:]
    /// The signals the loop thread blocked already before it took them, which stay blocked.
    private var blockedBefore: Set<Int32> = []
    private let info = UnsafeMutableRawBufferPointer.allocate(byteCount: cr_signalfd_info_size(), alignment: 8)

    init(reactor: Reactor) throws {
        let fd = cr_signalfd(-1, nil, 0)
        if fd < 0 { throw SystemCallError(operation: "signalfd", errno: -fd) }
        signalfd = try reactor.register(fd, isSocket: false, isStream: false)
        Task(executorPreference: reactor) { [self] in await readUntilClosed() }
    }

    deinit { info.deallocate() }

    /// Takes `subscription`'s signals: the loop thread blocks them, the signalfd reads them,
    /// and then (`SignalRouting.add`) the other threads send them on to it.
    func add(_ subscription: SignalSubscription) throws {
        let fresh = subscription.signals.filter { subscriptionCounts[$0, default: 0] == 0 }
        for signal in fresh where cr_thread_block_signal(signal, 1) == 1 { blockedBefore.insert(signal) }
        for signal in subscription.signals { subscriptionCounts[signal, default: 0] += 1 }
        do {
            try updateMask()
            try SignalRouting.add(subscription)
        } catch {
            release(subscription.signals)
            throw error
        }
    }

    /// Gives back `subscription`'s signals once no other subscription of the reactor wants
    /// them: what arrived for them meanwhile goes to whoever still wants it.
    func remove(_ subscription: SignalSubscription) {
        SignalRouting.remove(subscription)
        release(subscription.signals)
    }

    func close() { signalfd.close() }

    private func release(_ signals: [Int32]) {
        var released: [Int32] = []
        for signal in signals {
            subscriptionCounts[signal, default: 1] -= 1
            if subscriptionCounts[signal] == 0 {
                subscriptionCounts[signal] = nil
                released.append(signal)
            }
        }
        guard !released.isEmpty else { return }
        // Before the unblock, which would deliver what is still pending to its restored action.
        readArrived()
        try? updateMask()
        for signal in released where blockedBefore.remove(signal) == nil { _ = cr_thread_block_signal(signal, 0) }
    }

    private func updateMask() throws {
        let signals = Array(subscriptionCounts.keys)
        let result = signals.withUnsafeBufferPointer { cr_signalfd(signalfd.fileDescriptor, $0.baseAddress, Int32($0.count)) }
        if result < 0 { throw SystemCallError(operation: "signalfd", errno: -result) }
    }

    private func readUntilClosed() async {
        while true {
            readArrived()
            do {
                try await signalfd.waitUntilReadable()
            } catch {
                return  // closed: the reactor shut down
            }
        }
    }

    /// Hands every signal the signalfd holds to the subscriptions that want it.
    private func readArrived() {
        while let count = try? signalfd.tryRead(into: info), count == info.count {
            SignalRouting.deliver(cr_signalfd_signal(info.baseAddress))
        }
    }
}

extension Reactor {
    /// The reactor's signal listener, made on first use (loop thread).
    func listeningForSignals() throws -> SignalListener {
        if let signalListener { return signalListener }
        let listener = try SignalListener(reactor: self)
        signalListener = listener
        return listener
    }

    /// At shutdown: ends the reactor's signal sequences, which gives their signals back, and
    /// closes the signalfd.
    func finishSignalSequences() {
        guard let listener = signalListener else { return }
        for subscription in SignalRouting.subscriptions(of: self) { subscription.finish() }
        listener.close()
        signalListener = nil
    }
}
