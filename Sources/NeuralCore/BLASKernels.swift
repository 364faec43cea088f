import COpenBLAS

/// Which OpenBLAS kernels run. OpenBLAS (DYNAMIC_ARCH) chooses them from the CPU's model number
/// when the library loads; Debian 12's OpenBLAS 0.3.21 does not know recent Xeons (nor virtual
/// CPUs that hide the model) and falls back to its SSE3 "Prescott" kernels, which run sgemm 3–6×
/// slower than the CPU can. The CPU's feature flags say what it can really run, and
/// `OPENBLAS_CORETYPE` (read only at load, so the executable re-executes itself with it) picks
/// those kernels. A user's own `OPENBLAS_CORETYPE` always wins.
public enum BLASKernels {
    /// The kernel family OpenBLAS is using in this process (e.g. "Prescott", "Haswell", "SkylakeX").
    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// Cores OpenBLAS falls back to for a CPU it does not recognise (or pre-AVX CPUs).
    static let fallbackCores: Set<String> = ["prescott", "core2", "penryn", "dunnington", "nehalem", "atom",
                                             "katmai", "coppermine", "northwood", "banias", "unknown"]

    /// The `OPENBLAS_CORETYPE` that matches `cpuFlags`, or nil when OpenBLAS's own choice
    /// (`currentCore`) is already right or nothing better is possible.
    public static func recommendedCoreType(cpuFlags: Set<String>, currentCore: String) -> String? {
        guard fallbackCores.contains(currentCore.lowercased()) else { return nil }
        if cpuFlags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]) { return "SkylakeX" }
        if cpuFlags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        if cpuFlags.contains("avx") { return "Sandybridge" }
        return nil
    }

    /// The feature flags of the first processor in a Linux `/proc/cpuinfo` text.
    public static func cpuFlags(cpuinfo: String) -> Set<String> {
        for line in cpuinfo.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        }
        return []
    }
}
