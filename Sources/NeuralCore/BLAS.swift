import COpenBLAS

/// Thin, checked wrappers over OpenBLAS (row-major everywhere).
///
/// OpenBLAS runs single-threaded for the whole life of the process, set once before the first
/// product and never changed: its thread count is a process-wide setting, and a threaded sgemm
/// rounds differently from a single-threaded one, so any call that changed it (as a per-call
/// budget used to) changed the bits of whatever else the process was computing at that moment.
/// The engine splits its own work instead (`EngineThreads`), in partitions that do not change an
/// element's arithmetic, so a result depends on its inputs only.
public enum BLAS {
    /// C[M×N] = alpha · op(A) · op(B) + beta · C.
    @inline(__always)
    public static func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
                            c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = EngineThreads.budget   // pins OpenBLAS to one thread before its first product
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta,
                    c, blasint(ldc))
    }

    /// y[M] = alpha · A[M×N] · x[N] + beta · y (A row-major, leading dimension `lda`).
    @inline(__always)
    public static func gemv(m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>) {
        _ = EngineThreads.budget
        cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(m), blasint(n), alpha, a, blasint(lda), x, 1, beta, y, 1)
    }

    /// OpenBLAS's own worker threads: 1 once the engine has started.
    public static var libraryThreadCount: Int { Int(openblas_get_num_threads()) }
}

/// The threads one model call may split its work over. Read once, from the thread count OpenBLAS
/// chose when it loaded (`OPENBLAS_NUM_THREADS`, else the cores), which is then handed from the
/// library to the engine: OpenBLAS is pinned to one thread at the same moment (see `BLAS`).
///
/// Every caller splits its work into parts fixed by the data, not by the thread count (each
/// sequence's row pieces, heads, frames — so every product has the same shape whatever the
/// threads or the batch), so concurrent model calls may each use the whole budget
/// (oversubscribing the cores costs time, never bits), and a budget of 1 or 8 gives the same result.
public enum EngineThreads {
    /// Most threads a model call splits over; the machine's cores bound it anyway.
    public static let maxThreads = 8

    public static let budget: Int = {
        let chosen = Int(openblas_get_num_threads())
        openblas_set_num_threads(1)
        return min(maxThreads, max(1, chosen))
    }()

    /// Threads for one call that wants at most `limit`.
    public static func threads(limit: Int = maxThreads) -> Int { min(budget, max(1, limit)) }
}
