import ReactorStreams
import ServiceLifecycle

/// A ``Server`` is a swift-service-lifecycle `Service`: put it in a `ServiceGroup`, and the
/// group's graceful shutdown (for instance on SIGTERM, with `gracefulShutdownSignals:
/// [.sigterm]`) stops it as ``Server/shutdownGracefully(file:line:)`` does: it stops accepting,
/// lets the handlers finish for up to ``Server/gracePeriod``, then closes the connections left.
///
/// ```swift
/// let server = try await startServer(port: 8080) { reader, writer in ... }
/// let group = ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
extension Server: Service {
    /// Serves until a graceful shutdown has closed every connection, or until `close()`.
    /// Cancelled (the group's cancellation), it stops accepting and closes every connection at
    /// once.
    public func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await waitClosed()
            } onGracefulShutdown: {
                Task(executorPreference: self.reactor) { await self.shutdownGracefully() }
            }
        } onCancel: {
            self.close()
            self.abortClients()
        }
    }
}
