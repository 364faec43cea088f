import Testing
@testable import SignalKit

@Test func SignalKitModuleLinks() { #expect(Bool(true)) }
