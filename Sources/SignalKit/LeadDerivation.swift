import ECGFormats
import Foundation

/// Einthoven / Goldberger relations: with limb leads I and II every other limb lead follows.
///   III = II − I,  aVR = −(I + II)/2,  aVL = I − II/2,  aVF = II − I/2.
public enum LeadDerivation {
    /// Leads that can be computed from I and II.
    public static let derivable: Set<LeadID> = [.iii, .aVR, .aVL, .aVF]

    /// One derived lead, marked `isDerived`. Throws when I or II is missing or lengths differ.
    public static func derive(_ id: LeadID, from record: ECGRecord) throws -> Lead {
        guard derivable.contains(id) else { throw SignalError.missingLead(id.description) }
        guard let i = record.lead(.i)?.millivolts, let ii = record.lead(.ii)?.millivolts else {
            throw SignalError.missingLead(id.description)
        }
        guard i.count == ii.count else {
            throw SignalError.leadLengthMismatch(lead: "II", expected: i.count, got: ii.count)
        }
        let values: [Float]
        switch id {
        case .iii: values = zip(i, ii).map { $1 - $0 }
        case .aVR: values = zip(i, ii).map { -($0 + $1) / 2 }
        case .aVL: values = zip(i, ii).map { $0 - $1 / 2 }
        default: values = zip(i, ii).map { $1 - $0 / 2 }  // aVF
        }
        return Lead(id: id, millivolts: values, isDerived: true)
    }

    /// The record with III, aVR, aVL and aVF added (derived) where missing, leads kept in
    /// standard order followed by any extra leads. Unchanged when I or II is absent.
    public static func completingLimbLeads(_ record: ECGRecord) -> ECGRecord {
        guard record.lead(.i) != nil, record.lead(.ii) != nil else { return record }
        var leads = record.leads
        for id in [LeadID.iii, .aVR, .aVL, .aVF] where record.lead(id) == nil {
            if let lead = try? derive(id, from: record) { leads.append(lead) }
        }
        let standard = LeadID.standard12.compactMap { id in leads.first { $0.id == id } }
        let extra = leads.filter { $0.id.standardIndex == nil }
        var out = record
        out.leads = standard + extra
        return out
    }
}
