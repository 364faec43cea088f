import Testing
@testable import ReaderStudy

@Test func ReaderStudyModuleLinks() { #expect(Bool(true)) }
