import COpenBLAS

/// Thin, checked wrappers over OpenBLAS (row-major everywhere).
public enum BLAS {
    /// C[M×N] = alpha · op(A) · op(B) + beta · C.
    @inline(__always)
    public static func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
                            c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta,
                    c, blasint(ldc))
    }

    /// OpenBLAS worker threads (process-wide setting of the library).
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
    }

    public static func setThreadCount(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }

    /// Runs `body(threads)` with the thread budget (OpenBLAS's thread count, i.e.
    /// `OPENBLAS_NUM_THREADS`) handed to the caller, who splits its work over that many threads
    /// of its own, and OpenBLAS single-threaded meanwhile: OpenBLAS serialises calls made from
    /// several threads when it is threaded itself, and its idle workers spin for a while after a
    /// threaded call, taking the cores the caller's split needs. Concurrent callers stay correct
    /// (one may then see a budget of 1 and run serially).
    public static func withCallerThreads<R>(limit: Int = 8, _ body: (Int) throws -> R) rethrows -> R {
        let budget = threadCount
        let threads = min(budget, max(1, limit))
        guard threads > 1 else { return try body(1) }
        setThreadCount(1)
        defer { setThreadCount(budget) }
        return try body(threads)
    }
}
