import CReactor

/// The process's signal subscriptions, on every reactor: which signals have the forwarding
/// handler, which loop thread the handler sends each one to, and who receives each arrival.
enum SignalRouting {
    private static let subscriptions = LockedValue<[SignalSubscription]>([])

    /// Adds `subscription`, whose loop thread already takes its signals: the first loop thread
    /// that takes a signal becomes the one it is sent on to, and the first subscription to a
    /// signal installs the handler (after the target, so no arrival finds none).
    static func add(_ subscription: SignalSubscription) throws {
        try subscriptions.withLock { subscriptions in
            var targeted: [Int32] = []
            var installed: [Int32] = []
            for signal in subscription.signals {
                if cr_signal_target(signal) == 0 {
                    cr_signal_set_target(signal, subscription.loopThreadID)
                    targeted.append(signal)
                }
                if !subscriptions.contains(where: { $0.signals.contains(signal) }) {
                    let result = cr_signal_install_forwarder(signal)
                    if result < 0 {
                        for signal in installed { _ = cr_signal_restore(signal) }
                        for signal in targeted { cr_signal_set_target(signal, 0) }
                        throw SystemCallError(operation: "sigaction", errno: -result, detail: "signal \(signal)")
                    }
                    installed.append(signal)
                }
            }
            subscriptions.append(subscription)
        }
    }

    /// Removes `subscription`: a signal no one wants any more gets its previous action back; one
    /// whose loop thread no longer takes it is sent on to another that does.
    static func remove(_ subscription: SignalSubscription) {
        subscriptions.withLock { subscriptions in
            subscriptions.removeAll { $0 === subscription }
            for signal in subscription.signals {
                let wanting = subscriptions.filter { $0.signals.contains(signal) }
                if wanting.isEmpty {
                    _ = cr_signal_restore(signal)
                    cr_signal_set_target(signal, 0)
                } else if cr_signal_target(signal) == subscription.loopThreadID,
                    !wanting.contains(where: { $0.reactor === subscription.reactor })
                {
                    cr_signal_set_target(signal, wanting[0].loopThreadID)
                }
            }
        }
    }

    /// Hands an arrival of `signal` to every subscription that wants it, each on its own loop.
    static func deliver(_ signal: Int32) {
        let receivers = subscriptions.withLock { $0.filter { $0.signals.contains(signal) } }
        for receiver in receivers {
            receiver.reactor.runOnLoopNowOrNextTurn((receiver, signal)) { receiver, signal in receiver.receive(signal) }
        }
    }

    static func subscriptions(of reactor: Reactor) -> [SignalSubscription] {
        subscriptions.withLock { $0.filter { $0.reactor === reactor } }
    }
}
