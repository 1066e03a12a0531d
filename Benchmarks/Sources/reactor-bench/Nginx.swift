import Foundation

/// nginx as reactor-bench http runs it: the reference HTTP server, from a configuration written
/// into a temporary directory. One process serves (master_process off: the process started is
/// the one that serves, so its CPU time is the server's, and SIGTERM stops it as it stops the
/// others); GET /plaintext and /json on a plain port, and /plaintext over TLS on a second port
/// with the runs' test certificate.
enum Nginx {
    /// nginx running, pinned to `cpu`; `process.port` is its plain port.
    struct Instance {
        let process: ServerProcess
        let tlsPort: Int?
    }

    /// Starts nginx at `path`, with a TLS port when given a certificate.
    static func start(_ path: String, certificate: TestCertificate?, toolbox: Toolbox, cpu: Int?) throws -> Instance {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("reactor-bench-nginx-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = try freePort()
        let tlsPort = try certificate.map { _ in try freePort() }
        let file = directory.appendingPathComponent("nginx.conf")
        try configuration(directory: directory.path, port: port, tlsPort: tlsPort, certificate: certificate)
            .write(to: file, atomically: true, encoding: .utf8)
        let kind = ServerKind(name: "nginx", summary: "", executable: path, arguments: ["-c", file.path, "-p", directory.path + "/"])
        do {
            return Instance(process: try ServerProcess(kind, toolbox: toolbox, cpu: cpu, executable: path, fixedPort: port), tlsPort: tlsPort)
        } catch {
            let log = (try? String(contentsOf: directory.appendingPathComponent("error.log"), encoding: .utf8)) ?? ""
            throw BenchError("\(error)\(log.isEmpty ? "" : "; its error log:\n\(log)")")
        }
    }

    private static func configuration(directory: String, port: Int, tlsPort: Int?, certificate: TestCertificate?) -> String {
        var text = """
            daemon off;
            master_process off;
            worker_processes 1;
            pid \(directory)/nginx.pid;
            error_log \(directory)/error.log warn;
            events {
                worker_connections 4096;
            }
            http {
                access_log off;
                default_type text/plain;
                # The Swift servers never close a keep-alive connection of their own accord.
                keepalive_requests 1000000000;
                # Its own temporary files in this directory, not /var/lib/nginx.
                client_body_temp_path \(directory)/body;
                proxy_temp_path \(directory)/proxy;
                fastcgi_temp_path \(directory)/fastcgi;
                uwsgi_temp_path \(directory)/uwsgi;
                scgi_temp_path \(directory)/scgi;
                server {
                    listen 127.0.0.1:\(port);
                    location /plaintext { return 200 "Hello, World!"; }
                    location /json { default_type application/json; return 200 '{"message":"Hello, World!"}'; }
                }

            """
        if let tlsPort, let certificate {
            text += """
                    server {
                        listen 127.0.0.1:\(tlsPort) ssl;
                        ssl_certificate \(certificate.certificate);
                        ssl_certificate_key \(certificate.key);
                        location /plaintext { return 200 "Hello, World!"; }
                    }

                """
        }
        return text + "}\n"
    }

    /// A port nothing listens on now: the one the kernel picks for a socket bound to port 0.
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw BenchError("bind to a free port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
