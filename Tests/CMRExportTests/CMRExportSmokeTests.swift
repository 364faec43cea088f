import Testing
@testable import CMRExport

@Test func CMRExportModuleLinks() { #expect(Bool(true)) }
