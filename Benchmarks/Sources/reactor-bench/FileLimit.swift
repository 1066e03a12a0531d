import Glibc

/// reactor-bench's limit of open files, which the servers and the load generator it starts
/// inherit: 10,000 idle connections need as many descriptors on each side.
enum FileLimit {
    /// Raises the soft limit to `wanted` as far as the hard limit allows, and the hard limit
    /// too where the process may (as root). Never lowers either. Returns the soft limit.
    @discardableResult
    static func raise(to wanted: Int) -> Int {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return 0 }
        let target = rlim_t(wanted)
        if limit.rlim_max != unlimited && limit.rlim_max < target {
            var higher = limit
            higher.rlim_max = target
            if setrlimit(resource, &higher) == 0 { limit = higher }
        }
        if limit.rlim_cur != unlimited && limit.rlim_cur < target {
            var higher = limit
            higher.rlim_cur = limit.rlim_max == unlimited ? target : min(target, limit.rlim_max)
            if setrlimit(resource, &higher) == 0 { limit = higher }
        }
        return limit.rlim_cur == unlimited ? Int.max : Int(limit.rlim_cur)
    }

    private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    /// RLIM_INFINITY, which Swift does not import (it is written as -1 cast to unsigned).
    private static let unlimited = rlim_t.max
}
