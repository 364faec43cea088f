import Foundation
import Testing
@testable import NeuralCore

/// Headers that the fuzz target `fuzz-safetensors` exercises; each was accepted (or trapped) before.
private func expectMalformed(_ headerJSON: String, data: [UInt8] = [], _ fragment: String,
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
    let url = try writeSafetensors(header: [:], data: data, headerOverride: Data(headerJSON.utf8))
    do {
        let file = try SafeTensorsFile(url: url)
        Issue.record("accepted \(headerJSON) with \(file.entries.count) tensors", sourceLocation: sourceLocation)
    } catch let e as NeuralCoreError {
        #expect(e.description.contains(fragment), "\(e.description)", sourceLocation: sourceLocation)
    }
}

// product(shape) × 4 wrapped to 0 in the -Ounchecked NeuralCore, so this empty byte range passed and
// reading the tensor allocated 2^62 floats.
@Test func shapeWhoseByteSizeOverflowsIsRefused() throws {
    try expectMalformed(#"{"x":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}}"#, "overflows")
    try expectMalformed(#"{"x":{"dtype":"F16","shape":[2147483648,2147483648],"data_offsets":[0,0]}}"#, "overflows")
}

// NSNumber.intValue truncated 1.5 to 1 and turned 1e300 into Int.min; true read as 1.
@Test func numbersThatAreNotExactIntegersAreRefused() throws {
    try expectMalformed(#"{"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, data: floatBytes([1]), "invalid shape")
    try expectMalformed(#"{"x":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#, data: floatBytes([1]), "invalid shape")
    try expectMalformed(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0000001]}}"#, data: floatBytes([1]), "invalid data_offsets")
    try expectMalformed(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[1e300,4]}}"#, data: floatBytes([1]), "invalid data_offsets")
}

@Test func inMemoryBytesParseLikeTheFile() throws {
    let url = try #require(Bundle.module.url(forResource: "layers", withExtension: "safetensors", subdirectory: "Fixtures"))
    let fromFile = try SafeTensorsFile(url: url)
    let bytes = try Data(contentsOf: url)
    // A slice of a larger buffer (non-zero startIndex) must parse the same.
    let slice = (Data([9, 9, 9]) + bytes).dropFirst(3)
    for data in [bytes, slice] {
        let inMemory = try SafeTensorsFile(data: data, url: url)
        #expect(inMemory.entries == fromFile.entries)
        #expect(try inMemory.tensor("linear.weight").values == (try fromFile.tensor("linear.weight").values))
    }
}
