import Foundation
import Testing
@testable import NeuralCore

/// Every layer against PyTorch vectors from Fixtures/make_fixtures.py.
struct LayerFixtures {
    let file: SafeTensorsFile

    init() throws {
        let url = try #require(Bundle.module.url(forResource: "layers", withExtension: "safetensors", subdirectory: "Fixtures"))
        file = try SafeTensorsFile(url: url)
    }

    func t(_ name: String) throws -> Tensor { try file.tensor(name) }
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

/// Runs `body` with a fresh output buffer of `count` floats and returns it.
func output(_ count: Int, _ body: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
    var y = [Float](repeating: .nan, count: count)
    y.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    return y
}

@Test func linearMatchesTorch() throws {
    let f = try LayerFixtures()
    let lin = Linear(weight: try f.t("linear.weight"), bias: try f.t("linear.bias"))
    let x = try f.t("linear.x")
    let y = output(15) { lin.forward(x.values, rows: 3, into: $0) }
    #expect(maxAbsDiff(y, try f.t("linear.y").values) < 1e-5)
}

@Test func layerNormForwardAndBackwardMatchTorch() throws {
    let f = try LayerFixtures()
    let ln = LayerNorm(weight: try f.t("ln.weight"), bias: try f.t("ln.bias"), eps: 1e-6)
    let x = try f.t("ln.x").values
    var mean = [Float](repeating: 0, count: 4), rstd = [Float](repeating: 0, count: 4)
    let y = output(64) { ln.forward(x, rows: 4, into: $0, mean: &mean, rstd: &rstd) }
    #expect(maxAbsDiff(y, try f.t("ln.y").values) < 1e-5)
    let dy = try f.t("ln.dy").values
    let dx = output(64) { ln.backward(dy, x: x, mean: mean, rstd: rstd, rows: 4, into: $0) }
    #expect(maxAbsDiff(dx, try f.t("ln.dx").values) < 1e-4)
}

@Test func activationsMatchTorch() throws {
    let f = try LayerFixtures()
    let x = try f.t("act.x").values
    for (name, fn) in [("gelu", Activation.gelu), ("silu", Activation.silu), ("sigmoid", Activation.sigmoid)] as [(String, (UnsafeMutablePointer<Float>, Int) -> Void)] {
        var y = x
        y.withUnsafeMutableBufferPointer { fn($0.baseAddress!, $0.count) }
        #expect(maxAbsDiff(y, try f.t("act." + name).values) < 2e-6, "\(name)")
    }
    var s = try f.t("softmax.x").values
    s.withUnsafeMutableBufferPointer { Activation.softmaxRows($0.baseAddress!, rows: 3, cols: 11) }
    #expect(maxAbsDiff(s, try f.t("softmax.y").values) < 1e-6)
}

@Test func attentionAndBlockMatchTorch() throws {
    let f = try LayerFixtures()
    let block = try TransformerBlock(PrefixedSource(file: f.file, prefix: "block."), "", width: 12, heads: 3, hidden: 20, eps: 1e-6)
    let x = try f.t("block.x").values
    var scratch = [Float](repeating: 0, count: block.scratchCount(tokens: 10, sequences: 1))
    let attnY = output(120) { y in scratch.withUnsafeMutableBufferPointer { block.attn.forward(x, tokens: 10, into: y, scratch: $0.baseAddress!) } }
    #expect(maxAbsDiff(attnY, try f.t("block.attn_y").values) < 1e-5)
    var xb = x
    xb.withUnsafeMutableBufferPointer { xp in
        scratch.withUnsafeMutableBufferPointer { block.forward(xp.baseAddress!, tokens: 10, sequences: 1, scratch: $0.baseAddress!) }
    }
    #expect(maxAbsDiff(xb, try f.t("block.y").values) < 1e-4)
}

@Test func attentionPoolingForwardAndBackwardMatchTorch() throws {
    let f = try LayerFixtures()
    let pool = AttentionPooling(query: try f.t("pool.query"))
    let h = try f.t("pool.h").values
    var a = [Float](repeating: 0, count: 10)
    let pooled = output(12) { pool.forward(h, tokens: 10, weights: &a, into: $0) }
    #expect(maxAbsDiff(pooled, try f.t("pool.pooled").values) < 1e-5)
    let dp = try f.t("pool.dpooled").values
    let dh = output(120) { pool.backward(dp, h: h, weights: a, tokens: 10, into: $0) }
    #expect(maxAbsDiff(dh, try f.t("pool.dh").values) < 1e-5)
}

@Test func convolutionUpsampleAndInterpolationMatchTorch() throws {
    let f = try LayerFixtures()
    let conv = try Conv2d3x3(PrefixedSource(file: f.file, prefix: "conv."), "", in: 3, out: 4)
    let x = try f.t("conv.x").values
    var cols = [Float](repeating: 0, count: conv.columnCount(height: 6, width: 5))
    let y = output(120) { conv.forward(x, height: 6, width: 5, into: $0, columns: &cols) }
    #expect(maxAbsDiff(y, try f.t("conv.y").values) < 1e-5)
    let up = output(360) { Upsample.nearest2x(x, channels: 3, height: 6, width: 5, into: $0) }
    #expect(up == (try f.t("up.y").values))
    let ix = try f.t("interp.x").values
    let iy = output(46) { out in
        ix.withUnsafeBufferPointer { p in
            for r in 0..<2 { Upsample.linear(p.baseAddress! + 7 * r, count: 7, into: out + 23 * r, count: 23) }
        }
    }
    #expect(maxAbsDiff(iy, try f.t("interp.y").values) < 1e-6)
}

/// Resolves `"" + ".weight"`-style names under a prefix (fixture tensors are namespaced).
struct PrefixedSource: WeightSource {
    let file: SafeTensorsFile
    let prefix: String
    private func key(_ n: String) -> String { prefix + (n.hasPrefix(".") ? String(n.dropFirst()) : n) }
    func tensor(_ name: String, shape: [Int]) throws -> Tensor { try file.tensor(key(name), shape: shape) }
    func contains(_ name: String) -> Bool { file.contains(key(name)) }
}

/// OpenBLAS's fallback kernels are replaced by the best family the CPU's flags allow; a correct
/// choice of OpenBLAS's own is left alone.
@Test func blasKernelChoiceFollowsTheCPUFlags() {
    let cpuinfo = """
    processor\t: 0
    model name\t: Intel(R) Xeon(R) Processor
    flags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl amx_tile
    """
    let flags = BLASKernels.cpuFlags(cpuinfo: cpuinfo)
    #expect(flags.contains("avx512bw") && flags.contains("fpu") && !flags.contains("Xeon(R)"))
    #expect(BLASKernels.recommendedCoreType(cpuFlags: flags, currentCore: "Prescott") == "SkylakeX")
    #expect(BLASKernels.recommendedCoreType(cpuFlags: ["avx", "avx2", "fma"], currentCore: "Prescott") == "Haswell")
    #expect(BLASKernels.recommendedCoreType(cpuFlags: ["sse2", "avx"], currentCore: "Core2") == "Sandybridge")
    #expect(BLASKernels.recommendedCoreType(cpuFlags: ["sse2", "sse3"], currentCore: "Prescott") == nil)
    #expect(BLASKernels.recommendedCoreType(cpuFlags: flags, currentCore: "SkylakeX") == nil)
    #expect(BLASKernels.recommendedCoreType(cpuFlags: flags, currentCore: "Cooperlake") == nil)
    #expect(BLASKernels.cpuFlags(cpuinfo: "no flags here") == [])
    #expect(!BLASKernels.coreName.isEmpty)
}

/// The AVX-512 C kernels and the portable Swift SIMD kernels agree (and both match libm), so
/// PyTorch parity on one machine vouches for the other path too.
@Test func avx512AndPortableKernelsAgree() {
    var rng = SystemRandomNumberGenerator()
    let n = 1000 + 13   // a tail in both widths
    let x = (0..<n).map { _ in Float.random(in: -9...9, using: &rng) }
    var a = x, b = x
    a.withUnsafeMutableBufferPointer { VectorMath.geluPortable($0.baseAddress!, count: n) }
    b.withUnsafeMutableBufferPointer { VectorMath.gelu($0.baseAddress!, count: n) }
    for i in 0..<n {
        let exact = 0.5 * Double(x[i]) * (1 + erf(Double(x[i]) / 2.0.squareRoot()))
        #expect(abs(Double(a[i]) - exact) < 2e-6 && abs(Double(b[i]) - exact) < 2e-6, "gelu(\(x[i]))")
    }
    var ga = [Float](repeating: 1, count: n), gb = ga
    x.withUnsafeBufferPointer { xp in
        ga.withUnsafeMutableBufferPointer { VectorMath.geluBackwardPortable($0.baseAddress!, input: xp.baseAddress!, count: n) }
        gb.withUnsafeMutableBufferPointer { VectorMath.geluBackward($0.baseAddress!, input: xp.baseAddress!, count: n) }
    }
    for i in 0..<n {
        let v = Double(x[i])
        let exact = 0.5 * (1 + erf(v / 2.0.squareRoot())) + v * exp(-0.5 * v * v) / (2 * Double.pi).squareRoot()
        #expect(abs(Double(ga[i]) - exact) < 2e-6 && abs(Double(gb[i]) - exact) < 2e-6, "gelu′(\(x[i]))")
    }
    let rows = 7, cols = 37, ld = 40
    let s = (0..<(rows * ld)).map { _ in Float.random(in: -30...30, using: &rng) }
    var sa = s, sb = s
    sa.withUnsafeMutableBufferPointer { VectorMath.softmaxRowsPortable($0.baseAddress!, rows: rows, cols: cols, ld: ld) }
    sb.withUnsafeMutableBufferPointer { VectorMath.softmaxRows($0.baseAddress!, rows: rows, cols: cols, ld: ld) }
    for r in 0..<rows {
        let row = (0..<cols).map { Double(s[r * ld + $0]) }
        let m = row.max()!, z = row.map { exp($0 - m) }.reduce(0, +)
        for c in 0..<cols {
            let exact = exp(row[c] - m) / z
            #expect(abs(Double(sa[r * ld + c]) - exact) < 1e-6 && abs(Double(sb[r * ld + c]) - exact) < 1e-6)
        }
        for c in cols..<ld { #expect(sa[r * ld + c] == s[r * ld + c] && sb[r * ld + c] == s[r * ld + c], "padding untouched") }
    }
    print("VectorMath AVX-512 kernels in use: \(VectorMath.usesAVX512)")
}
