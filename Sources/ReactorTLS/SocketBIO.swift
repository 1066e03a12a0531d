import COpenSSL
import Reactor

/// The BIO a session's records pass through: its reads and writes are the handle's `tryRead`
/// and `tryWrite`, so TLS has the plain path's readiness bookkeeping (a short read or EAGAIN
/// clears the readiness, and no syscall is made while the handle is known not ready), and a
/// socket send never raises SIGPIPE. EAGAIN becomes OpenSSL's retry (WANT_READ or
/// WANT_WRITE); a failed syscall is kept on the session and thrown by the call that made it.
enum SocketBIO {
    // Made once and never changed: OpenSSL reads it from any thread.
    nonisolated(unsafe) static let method: OpaquePointer = {
        let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "reactor socket")!
        BIO_meth_set_read_ex(method, read)
        BIO_meth_set_write_ex(method, write)
        BIO_meth_set_ctrl(method, control)
        return method
    }()

    /// A BIO over `session`'s handle; the session outlives it (its SSL frees it).
    static func make(for session: TLSSession) -> OpaquePointer {
        let bio = BIO_new(method)!
        BIO_set_data(bio, Unmanaged.passUnretained(session).toOpaque())
        BIO_set_init(bio, 1)
        return bio
    }

    private static func session(_ bio: OpaquePointer?) -> TLSSession {
        Unmanaged<TLSSession>.fromOpaque(BIO_get_data(bio)!).takeUnretainedValue()
    }

    private static let read: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int, UnsafeMutablePointer<Int>?) -> Int32 = {
        bio, data, size, readBytes in
        reactor_bio_clear_retry_flags(bio)
        let session = session(bio)
        do {
            guard let count = try session.handle.tryRead(into: UnsafeMutableRawBufferPointer(start: data, count: size)) else {
                reactor_bio_set_retry_read(bio)
                return 0
            }
            readBytes?.pointee = count
            return count > 0 ? 1 : 0
        } catch {
            session.transportFailure = error
            return 0
        }
    }

    private static let write: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, Int, UnsafeMutablePointer<Int>?) -> Int32 = {
        bio, data, size, written in
        reactor_bio_clear_retry_flags(bio)
        let session = session(bio)
        do {
            guard let count = try session.handle.tryWrite(UnsafeRawBufferPointer(start: data, count: size)) else {
                reactor_bio_set_retry_write(bio)
                return 0
            }
            written?.pointee = count
            return 1
        } catch {
            session.transportFailure = error
            return 0
        }
    }

    /// Only a flush is asked of a socket BIO (the records went out with each write).
    private static let control: @convention(c) (OpaquePointer?, Int32, Int, UnsafeMutableRawPointer?) -> Int = { _, command, _, _ in
        command == BIO_CTRL_FLUSH ? 1 : 0
    }
}
