import Foundation

/// Global ECG measurements in the units a cardiologist reads them: intervals in milliseconds, frontal
/// axes in degrees (−89…+270 as GE 12SL prints them, 0° = lead I, +90° = aVF; compare them modulo 360), heart rate in beats per
/// minute. `nil` means "not measurable" (e.g. no P waves in atrial fibrillation: no PR, no P axis) or
/// "not stated by the device". `source` names who measured: `"ecg2cmr"` for SignalKit's own values,
/// the device (e.g. `"GE MUSE 12SL"`) for values read from the file.
///
/// The JSON form is a stable contract (`info --json`, screening results): every key is always
/// present and unmeasured values are written as `null`.
public struct IntervalMeasurements: Codable, Sendable, Equatable {
    public var prMs: Double?
    public var qrsMs: Double?
    public var qtMs: Double?
    public var qtcBazettMs: Double?
    public var qtcFridericiaMs: Double?
    public var pAxisDeg: Double?
    public var qrsAxisDeg: Double?
    public var tAxisDeg: Double?
    public var heartRateBpm: Double?
    public var source: String
    /// A device QTc whose correction formula the file does not state (HL7 aECG `MDC_ECG_TIME_PD_QTc`).
    public var qtcReportedMs: Double?
    /// Number of beats the device values are the median of (aECG per-beat annotations); nil otherwise.
    public var beatCount: Int?
    /// Why values are missing, when a whole measurement failed (e.g. "too few beats"), or what they
    /// were measured around ("measured around a 0.40 s gap in V2 at 4.00 s": missing samples).
    public var note: String?

    public init(prMs: Double? = nil, qrsMs: Double? = nil, qtMs: Double? = nil, qtcBazettMs: Double? = nil,
                qtcFridericiaMs: Double? = nil, pAxisDeg: Double? = nil, qrsAxisDeg: Double? = nil,
                tAxisDeg: Double? = nil, heartRateBpm: Double? = nil, source: String,
                qtcReportedMs: Double? = nil, beatCount: Int? = nil, note: String? = nil) {
        self.prMs = prMs
        self.qrsMs = qrsMs
        self.qtMs = qtMs
        self.qtcBazettMs = qtcBazettMs
        self.qtcFridericiaMs = qtcFridericiaMs
        self.pAxisDeg = pAxisDeg
        self.qrsAxisDeg = qrsAxisDeg
        self.tAxisDeg = tAxisDeg
        self.heartRateBpm = heartRateBpm
        self.source = source
        self.qtcReportedMs = qtcReportedMs
        self.beatCount = beatCount
        self.note = note
    }

    enum CodingKeys: String, CodingKey {
        case prMs, qrsMs, qtMs, qtcBazettMs, qtcFridericiaMs, pAxisDeg, qrsAxisDeg, tAxisDeg, heartRateBpm, source
        case qtcReportedMs, beatCount, note
    }

    /// The nine contract keys are always written (null when unmeasured); the optional extras only when set.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let pairs: [(CodingKeys, Double?)] = [
            (.prMs, prMs), (.qrsMs, qrsMs), (.qtMs, qtMs), (.qtcBazettMs, qtcBazettMs),
            (.qtcFridericiaMs, qtcFridericiaMs), (.pAxisDeg, pAxisDeg), (.qrsAxisDeg, qrsAxisDeg),
            (.tAxisDeg, tAxisDeg), (.heartRateBpm, heartRateBpm),
        ]
        for (key, value) in pairs {
            if let value, value.isFinite { try c.encode((value * 10).rounded() / 10, forKey: key) } else { try c.encodeNil(forKey: key) }
        }
        try c.encode(source, forKey: .source)
        try c.encodeIfPresent(qtcReportedMs, forKey: .qtcReportedMs)
        try c.encodeIfPresent(beatCount, forKey: .beatCount)
        try c.encodeIfPresent(note, forKey: .note)
    }

    /// True when no value at all is present.
    public var isEmpty: Bool {
        [prMs, qrsMs, qtMs, qtcBazettMs, qtcFridericiaMs, pAxisDeg, qrsAxisDeg, tAxisDeg, heartRateBpm, qtcReportedMs]
            .allSatisfy { $0 == nil }
    }

    /// Compact one-line form for headers: "PR 158 QRS 78 QT/QTc 364/364 ms · axes 49/54/46°".
    public func compactLine() -> String {
        func ms(_ v: Double?) -> String { NumberText.whole(v) }
        let qtc = qtcBazettMs ?? qtcReportedMs
        return "PR \(ms(prMs)) QRS \(ms(qrsMs)) QT/QTc \(ms(qtMs))/\(ms(qtc)) ms · axes \(ms(pAxisDeg))/\(ms(qrsAxisDeg))/\(ms(tAxisDeg))°"
    }
}

/// Amplitudes of one lead's representative beat in millivolts, relative to the isoelectric level
/// just before QRS onset. Q and S are ≤ 0, R ≥ 0 (0 when the wave is absent); P and T are signed.
public struct LeadAmplitudes: Codable, Sendable, Equatable {
    public var lead: String
    public var pMv: Double?
    public var qMv: Double
    public var rMv: Double
    public var sMv: Double
    public var tMv: Double?
    /// ST level at J + 60 ms.
    public var stMv: Double?

    public init(lead: String, pMv: Double?, qMv: Double, rMv: Double, sMv: Double, tMv: Double?, stMv: Double?) {
        self.lead = lead
        self.pMv = pMv
        self.qMv = qMv
        self.rMv = rMv
        self.sMv = sMv
        self.tMv = tMv
        self.stMv = stMv
    }
}

/// Measurements a device stored in the file (GE MUSE `RestingECGMeasurements` from 12SL, HL7 aECG
/// per-beat annotations summarised by their median).
public typealias DeviceMeasurements = IntervalMeasurements

/// A value on which ecg2cmr and the device that recorded the file differ by more than the
/// tolerance (`IntervalMeasurements.agreementTolerances`): one of the two has an onset or offset
/// wrong, and the reader should look at the beat before trusting either.
public struct MeasurementDisagreement: Codable, Sendable, Equatable {
    /// The contract key, e.g. "qtMs", "qrsAxisDeg".
    public var key: String
    /// What a cardiologist calls it, e.g. "QT", "QRS axis".
    public var label: String
    public var ecg2cmr: Double
    public var device: Double
    /// ecg2cmr − device (axes: the signed shorter way round, −180…180°).
    public var difference: Double
    public var tolerance: Double
    /// "ms", "°" or "bpm".
    public var unit: String

    /// "QT 420 vs 364 ms (Δ +56, tolerance 20)".
    public var text: String {
        String(format: "%@ %.0f vs %.0f %@ (Δ %+.0f, tolerance %.0f)", label, ecg2cmr, device, unit, difference, tolerance)
    }
}

extension IntervalMeasurements {
    /// How far ecg2cmr's value may lie from the device's before it is marked: 10 ms for PR and QRS,
    /// 20 ms for QT and QTc (about the spread between validated programs on the same records,
    /// IEC 60601-2-25's tolerances for global intervals), 15° for the frontal axes, 5 bpm for the
    /// rate. The one home of these numbers.
    public static let agreementTolerances: [(key: String, label: String, unit: String, tolerance: Double,
                                             value: @Sendable (IntervalMeasurements) -> Double?)] = [
        ("heartRateBpm", "heart rate", "bpm", 5, { $0.heartRateBpm }),
        ("prMs", "PR", "ms", 10, { $0.prMs }),
        ("qrsMs", "QRS", "ms", 10, { $0.qrsMs }),
        ("qtMs", "QT", "ms", 20, { $0.qtMs }),
        ("qtcBazettMs", "QTc Bazett", "ms", 20, { $0.qtcBazettMs }),
        ("qtcFridericiaMs", "QTc Fridericia", "ms", 20, { $0.qtcFridericiaMs }),
        ("pAxisDeg", "P axis", "°", 15, { $0.pAxisDeg }),
        ("qrsAxisDeg", "QRS axis", "°", 15, { $0.qrsAxisDeg }),
        ("tAxisDeg", "T axis", "°", 15, { $0.tAxisDeg }),
    ]

    /// The values both sides state and that differ by more than their tolerance (self = ecg2cmr's).
    /// A QTc whose formula the device does not state (`qtcReportedMs`) is not compared.
    public func disagreements(with device: IntervalMeasurements) -> [MeasurementDisagreement] {
        Self.agreementTolerances.compactMap { entry in
            guard let ours = entry.value(self), let theirs = entry.value(device), ours.isFinite, theirs.isFinite else { return nil }
            var difference = ours - theirs
            if entry.unit == "°" { difference = (difference + 180).truncatingRemainder(dividingBy: 360); if difference < 0 { difference += 360 }; difference -= 180 }
            guard abs(difference) > entry.tolerance else { return nil }
            return MeasurementDisagreement(key: entry.key, label: entry.label, ecg2cmr: ours, device: theirs,
                                           difference: difference, tolerance: entry.tolerance, unit: entry.unit)
        }
    }
}
