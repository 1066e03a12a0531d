/// Where a child's standard stream goes (asyncio's `PIPE`, `DEVNULL`, `STDOUT`, an fd, or
/// nothing given: inherited).
public enum SubprocessStream: Sendable, Equatable {
    /// A pipe to this process: the `Subprocess`'s `stdin` writer, or its `stdout` / `stderr`
    /// reader.
    case pipe
    /// /dev/null.
    case devNull
    /// This process's own stream.
    case inherit
    /// An open fd of yours, which the child gets a copy of (yours stays open).
    case fileDescriptor(Int32)
    /// For `stderr` only: wherever the child's stdout goes (asyncio's `STDOUT`).
    case stdout
}
