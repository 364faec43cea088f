import Testing
@testable import Workstation

@Test func WorkstationModuleLinks() { #expect(Bool(true)) }
