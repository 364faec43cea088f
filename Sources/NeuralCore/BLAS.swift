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
}
