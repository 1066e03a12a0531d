import Foundation

/// `reactor-bench coordination` and `subprocesses`: the coordination primitives and the
/// subprocesses side by side with Swift's and Python's alternatives. Each workload is a
/// process of its own (coordination-bench, subprocess-bench, or CPython for asyncio) pinned to
/// CPU 0; they take turns within each repetition, and the table shows each one's median rate
/// with its spread and the ratio of ours to it within each repetition.
enum WorkloadRuns {
    struct Workload {
        let name: String
        let command: [String]
    }

    struct Group {
        let title: String
        let unit: String
        /// The first is ours: the one the others are compared with.
        let workloads: [Workload]
    }

    /// A script in `Benchmarks/Scripts`, run by python3.
    private static func python(_ script: String) throws -> [String] {
        guard let python = Toolbox.system("python3") else { throw BenchError("asyncio's workloads need python3") }
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Scripts/\(script)").path
        return [python, path]
    }

    static func coordinationGroups(toolbox: Toolbox) throws -> [Group] {
        let bench = try toolbox.path(of: "coordination-bench")
        let script = try python("asyncio_queue_ping_pong.py")
        func ours(_ name: String, _ workload: String) -> Workload { Workload(name: name, command: [bench, workload]) }
        return [
            Group(
                title: "Queue ping-pong: an item passed between two tasks and back through two one-slot queues",
                unit: "items/s",
                workloads: [
                    ours("Reactor Queue(maxSize: 1)", "queue-ping-pong"),
                    ours("AsyncStream, global executor", "asyncstream-ping-pong"),
                    ours("AsyncStream, tasks on the reactor", "asyncstream-ping-pong-on-reactor"),
                    ours("AsyncChannel, global executor", "asyncchannel-ping-pong"),
                    ours("AsyncChannel, tasks on the reactor", "asyncchannel-ping-pong-on-reactor"),
                    Workload(name: "asyncio.Queue(maxsize=1), CPython", command: script),
                ]),
            Group(
                title: "A counter shared by two tasks",
                unit: "increments/s",
                workloads: [
                    ours("Reactor Lock: withLock { counter += 1 }, tasks on the reactor", "lock-counter"),
                    ours("actor counter: await counter.increment(), global executor", "actor-counter"),
                ]),
            Group(
                title: "Contended lock: two tasks take turns holding it across a suspension (Task.yield)",
                unit: "hand-offs/s",
                workloads: [ours("Reactor Lock", "lock-hand-off")]),
        ]
    }

    static func subprocessGroups(toolbox: Toolbox) throws -> [Group] {
        let bench = try toolbox.path(of: "subprocess-bench")
        let script = try python("asyncio_subprocess.py")
        func ours(_ name: String, _ workload: String) -> Workload { Workload(name: name, command: [bench, workload]) }
        return [
            Group(
                title: "Start /bin/true and wait for it, one child at a time",
                unit: "children/s",
                workloads: [
                    ours("Reactor createSubprocessExec + wait", "reactor-true"),
                    ours("swift-subprocess 1.0 run(output: .discarded)", "swift-subprocess-true"),
                    Workload(name: "asyncio create_subprocess_exec + wait, CPython", command: script + ["true"]),
                ]),
            Group(
                title: "Start /bin/cat, feed it 1 MiB and read it back, one child at a time",
                unit: "children/s",
                workloads: [
                    ours("Reactor communicate(input:)", "reactor-cat-1MiB"),
                    ours("swift-subprocess 1.0 run(input: .array, output: .bytes)", "swift-subprocess-cat-1MiB"),
                    Workload(name: "asyncio communicate(input), CPython", command: script + ["cat-1MiB"]),
                ]),
        ]
    }

    /// Runs the groups `makeGroups` makes, each run `duration` seconds, as many repetitions as
    /// `timing` says (15 by default).
    static func run(_ makeGroups: (Toolbox) throws -> [Group], command: String, timing: Timing, duration: Double) throws {
        let toolbox = Toolbox()
        try run(try makeGroups(toolbox), command: command, repetitions: timing.repetitions(default: 15), duration: duration, toolbox: toolbox)
    }

    private static func run(_ groups: [Group], command: String, repetitions: Int, duration: Double, toolbox: Toolbox) throws {
        print("reactor-bench \(command): \(repetitions) repetitions of \(Report.format(duration, 2)) s per workload, each pinned to CPU 0, in turns\n")
        for group in groups {
            var rates = Array(repeating: [Double](), count: group.workloads.count)
            for repetition in 0..<repetitions {
                for index in group.workloads.indices.map({ ($0 + repetition) % group.workloads.count }) {
                    rates[index].append(try rate(of: group.workloads[index], toolbox: toolbox, duration: duration))
                }
            }
            var cells = [["", group.unit, "spread", "ours ×"]]
            for (index, workload) in group.workloads.enumerated() {
                let spread = Spread(rates[index])!
                let ratio = index == 0 ? "" : Spread(zip(rates[0], rates[index]).map { $0 / $1 }).map { Report.times($0.median) } ?? "-"
                cells.append([workload.name, Report.grouped(spread.median), "±\(Int((spread.relative * 50).rounded())) %", ratio])
            }
            print(group.title)
            print(Report.render(cells).joined(separator: "\n") + "\n")
        }
    }

    /// Runs one workload once and returns its rate: it prints `<operations> <seconds>`.
    private static func rate(of workload: Workload, toolbox: Toolbox, duration: Double) throws -> Double {
        let (data, status) = try Toolbox.output(of: toolbox.pinned(0, workload.command + [String(duration)]))
        let fields = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
        guard status == 0, fields.count == 2, fields[1] > 0 else {
            throw BenchError("\(workload.name) failed (status \(status)): \(String(decoding: data, as: UTF8.self))")
        }
        return fields[0] / fields[1]
    }
}
