import Testing
@testable import ECGFormats

@Test func leadNamesParseInStandardOrder() {
    #expect(LeadID(parsing: "avr") == .aVR)
    #expect(LeadID(parsing: "MDC_ECG_LEAD_V3") == .v3)
    #expect(LeadID(parsing: "vx") == .other("vx"))
    #expect(LeadID.standard12.map(\.description).joined(separator: ",") == "I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6")
}
