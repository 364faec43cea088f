import Testing
@testable import CardiacModels

@Test func CardiacModelsModuleLinks() { #expect(Bool(true)) }
