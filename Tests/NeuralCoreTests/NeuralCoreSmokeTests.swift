import Testing
@testable import NeuralCore

@Test func NeuralCoreModuleLinks() { #expect(Bool(true)) }
