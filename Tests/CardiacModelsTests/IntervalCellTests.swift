import Foundation
import Testing
import TestSupport
import NeuralCore
import ECGFormats
@testable import CardiacModels

// Interval cells: an ECG that suggests a disease group gets 80 % intervals calibrated on that
// group (manifest `uncertainty.cells`, `interval80Scales`). The engine must pick the cell from the
// same head probabilities the manifest names, and use that cell's scale for the interval and for
// "draw within the intervals".

private let manifestURL = DemoV2Golden.bundleURL.appendingPathComponent("manifest.json")
private let haveCells: Bool = {
    guard let data = try? Data(contentsOf: manifestURL),
          let m = try? JSONDecoder().decode(ModelManifest.self, from: data) else { return false }
    return m.heads.contains { $0.uncertainty?.cells?.isEmpty == false }
}()

@Test(.enabled(if: haveCells, "the shipped bundle calibrates its intervals by cell"))
func intervalCellsAreCheckedAtLoad() throws {
    let shipped = try JSONDecoder().decode(ModelManifest.self, from: Data(contentsOf: manifestURL))
    try shipped.validate(path: manifestURL.path)
    let g = try #require(shipped.heads.firstIndex { $0.uncertainty?.cells != nil })
    func refused(_ edit: (inout ModelManifest) -> Void, _ reason: String) {
        var m = shipped
        edit(&m)
        #expect { try m.validate(path: manifestURL.path) } throws: { "\($0)".contains(reason) }
    }
    refused({ $0.heads[g].uncertainty?.cells?[0].product = ["phenotype.lv_ef"] }, "not an output of a sigmoid or softmax head")
    refused({ $0.heads[g].uncertainty?.cells?[0].product = ["risk.no_such_output"] }, "not an output of a sigmoid or softmax head")
    refused({ $0.heads[g].uncertainty?.cells?[0].above = 1.5 }, "threshold in (0, 1)")
    refused({ $0.heads[g].uncertainty?.cells?[0].name = "none" }, "is empty, 'none' or repeated")
    refused({ $0.heads[g].outputs[0].interval80Scales?["none"] = nil }, "has no finite interval80Scales['none']")
    refused({ $0.heads[g].outputs[0].interval80Scales?["dcm"] = .infinity }, "has no finite interval80Scales['dcm']")
}

@Test(.enabled(if: haveCells, "the shipped bundle calibrates its intervals by cell"))
func intervalsUseTheScaleOfTheECGsCell() throws {
    let demo = try DemoV2Golden()
    let bundle = demo.bundle, pipeline = demo.pipeline
    let head = try #require(bundle.manifest.heads.first { $0.uncertainty?.cells != nil })
    let cells = try #require(head.uncertainty?.cells)
    var seen = Set<String>()
    for k in 0..<3 {
        var a = pipeline.analyse(try demo.input(k))
        // The cell from the analysis's own probabilities, by the manifest's rule.
        func probability(_ ref: String) -> Double {
            if let r = a.risks.first(where: { $0.target.description == ref }) { return r.probability }
            return a.subtypes.first { $0.target.description == ref }?.probability ?? 0
        }
        let expected = cells.first { c in c.product.reduce(1.0) { $0 * probability($1) } > c.above }?.name ?? "none"
        #expect(a.intervalCell == expected, "case \(k)")
        seen.insert(expected)
        try checkIntervals(a, head: head, cell: expected, case: k)
        // Every cell's scale is used when the ECG is in that cell (the rule above picks one per ECG;
        // the others are exercised by re-reading the same analysis under each cell's scale).
        for c in cells.map(\.name) + ["none"] where c != expected {
            a.intervalCell = c
            let drawn = try #require(try pipeline.anatomyInput(a, mode: .withinInterval80, seed: 3))
            let mu = try #require(try pipeline.anatomyInput(a, mode: .pointEstimate, seed: 3))
            let anatomy = try #require(bundle.generator?.anatomy)
            let logSigma = try #require(a.rawHeads["\(head.name).logSigma"])
            for (j, i) in anatomy.indices.enumerated() {
                let q = try #require(head.outputs[i].interval80Scales?[c])
                let half = q * Foundation.exp(min(max(Double(logSigma[i]), -7), 4))
                #expect(abs(Double(drawn[j] - mu[j])) <= half * (1 + 1e-5) + 1e-6,
                        "case \(k) cell \(c): anatomy draw outside that cell's interval")
            }
        }
    }
    #expect(!seen.isEmpty)
}

private func checkIntervals(_ a: ECGAnalysis, head: ModelManifest.HeadSpec, cell: String, case k: Int) throws {
    let logSigma = try #require(a.rawHeads["\(head.name).logSigma"])
    var differs = false
    for (i, o) in head.outputs.enumerated() {
        let p = try #require(a.phenotypes.first { $0.target.output == o.id })
        let iv = try #require(p.interval80)
        let q = try #require(o.interval80Scales?[cell])
        let half = q * Foundation.exp(min(max(Double(logSigma[i]), -7), 4)) * (o.std ?? 1)
        #expect(abs((iv.upperBound - iv.lowerBound) / 2 - half) <= 1e-9 * max(1, half), "case \(k) \(o.id)")
        #expect(p.interval80Cell == cell)
        if let single = o.interval80Scale, abs(single - q) > 1e-6 { differs = true }
    }
    // The cell's scales are not the single scale, so an engine that ignored cells would fail above.
    #expect(differs, "case \(k): the \(cell) cell's scales equal the single scale for every output")
}
