import Foundation
import Testing
@testable import CardiacModels

// generator.anatomy.sizeCorrection: the decoder draws large hearts smaller than asked, so it is
// asked for LV EDV and ESV × factor(requested EDV). The engine must interpolate as numpy.interp does
// (training's model.SizeCorrection; the golden frames check the whole path), keep the asked EF, and
// refuse a correction it cannot apply.

private let manifestURL = DemoV2Golden.bundleURL.appendingPathComponent("manifest.json")

private func shippedAnatomy() throws -> (outputs: [String], head: ModelManifest.HeadSpec) {
    let m = try JSONDecoder().decode(ModelManifest.self, from: Data(contentsOf: manifestURL))
    let a = try #require(m.generator?.anatomy)
    return (a.outputs, try #require(m.heads.first { $0.name == a.head }))
}

private func correction(_ spec: ModelManifest.SizeCorrectionSpec) throws -> AnatomySizeCorrection {
    let (outputs, head) = try shippedAnatomy()
    return try AnatomySizeCorrection(spec: spec, anatomy: outputs, head: head, manifestPath: manifestURL.path)
}

@Test(.enabled(if: DemoV2Golden.available, "needs the shipped bundle"))
func sizeCorrectionInterpolatesAsNumpy() throws {
    let c = try correction(.init(by: "lv_edv", scale: ["lv_edv", "lv_esv"], knotsMl: [100, 200, 300], factors: [1.0, 1.02, 1.06]))
    // numpy.interp([50, 100, 150, 199.5, 250, 300, 400], [100, 200, 300], [1.0, 1.02, 1.06])
    let expected = [1.0, 1.0, 1.01, 1.0199, 1.04, 1.06, 1.06]
    for (x, e) in zip([50.0, 100, 150, 199.5, 250, 300, 400], expected) {
        #expect(abs(c.factor(volumeMl: x) - e) < 1e-12, "factor at \(x) mL")
    }
}

@Test(.enabled(if: DemoV2Golden.available, "needs the shipped bundle"))
func sizeCorrectionScalesBothVolumesAlikeAndLeavesTheRest() throws {
    let (outputs, head) = try shippedAnatomy()
    let c = try correction(.init(by: "lv_edv", scale: ["lv_edv", "lv_esv"], knotsMl: [150, 250], factors: [1.0, 1.1]))
    func out(_ id: String) throws -> ModelManifest.HeadOutputSpec { try #require(head.outputs.first { $0.id == id }) }
    let edv = try out("lv_edv"), esv = try out("lv_esv")
    let iEDV = try #require(outputs.firstIndex(of: "lv_edv")), iESV = try #require(outputs.firstIndex(of: "lv_esv"))
    func z(_ ml: Double, _ o: ModelManifest.HeadOutputSpec) -> Float { Float((ml - (o.mean ?? 0)) / (o.std ?? 1)) }
    func ml(_ z: Float, _ o: ModelManifest.HeadOutputSpec) -> Double { Double(z) * (o.std ?? 1) + (o.mean ?? 0) }
    var a = [Float](repeating: 0.25, count: outputs.count)
    a[iEDV] = z(250, edv)          // a DCM-sized heart: factor 1.1
    a[iESV] = z(175, esv)          // EF 30 %
    let asked = c.apply(a)
    let edvAsked = ml(asked[iEDV], edv), esvAsked = ml(asked[iESV], esv)
    #expect(abs(edvAsked - 275) < 0.01 && abs(esvAsked - 192.5) < 0.01, "\(edvAsked) \(esvAsked)")
    #expect(abs((1 - esvAsked / edvAsked) - 0.30) < 1e-4, "the asked EF is unchanged")
    for k in outputs.indices where k != iEDV && k != iESV { #expect(asked[k] == a[k], "\(outputs[k]) untouched") }
    a[iEDV] = z(140, edv)          // below the first knot: factor 1, nothing moves
    #expect(c.apply(a) == a)
}

@Test(.enabled(if: DemoV2Golden.available, "needs the shipped bundle"))
func sizeCorrectionIsCheckedAtLoad() throws {
    func refused(_ spec: ModelManifest.SizeCorrectionSpec, _ reason: String) {
        #expect { try correction(spec) } throws: { "\($0)".contains(reason) }
    }
    refused(.init(by: "lv_mass", scale: ["lv_edv"], knotsMl: [1, 2], factors: [1, 1]), "'lv_mass' is not one of the generator's anatomy outputs")
    refused(.init(by: "lv_edv", scale: ["no_such"], knotsMl: [1, 2], factors: [1, 1]), "'no_such' is not one of")
    refused(.init(by: "lv_edv", scale: ["lv_edv"], knotsMl: [200, 100], factors: [1, 1]), "increasing knotsMl")
    refused(.init(by: "lv_edv", scale: ["lv_edv"], knotsMl: [100], factors: [1]), "increasing knotsMl")
    refused(.init(by: "lv_edv", scale: ["lv_edv"], knotsMl: [100, 200], factors: [1]), "as many factors")
    refused(.init(by: "lv_edv", scale: ["lv_edv"], knotsMl: [100, 200], factors: [1, 0]), "finite and positive")
    refused(.init(by: "lv_edv", scale: ["lv_edv"], knotsMl: [100, .nan], factors: [1, 1]), "increasing knotsMl")
}
