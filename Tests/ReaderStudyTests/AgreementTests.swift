import Foundation
import Testing
@testable import ReaderStudy

// Fleiss' κ against the worked example of Fleiss (1971) as reproduced on Wikipedia ("Fleiss' kappa":
// 10 subjects, 14 raters, 5 categories, κ = 0.210) and statsmodels' fleiss_kappa (0.20993070442195522);
// median/IQR against numpy.percentile.

@Suite struct AgreementTests {
    @Test func fleissKappaWorkedExample() throws {
        let table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                     [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
        let kappa = try #require(Agreement.fleissKappa(table))
        #expect(String(format: "%.3f", kappa) == "0.210")
        #expect(abs(kappa - 0.20993070442195522) < 1e-12)
        // Binary calls by three readers (statsmodels: 0.5555555555555554).
        #expect(abs(try #require(Agreement.fleissKappa([[3, 0], [2, 1], [0, 3], [1, 2], [3, 0], [0, 3]])) - 0.5555555555555554) < 1e-12)
    }

    @Test func fleissKappaIsNilWhenUndefined() {
        #expect(Agreement.fleissKappa([]) == nil)
        #expect(Agreement.fleissKappa([[3, 0], [3, 0]]) == nil, "everyone said no: chance agreement is 1")
        #expect(Agreement.fleissKappa([[1, 0], [0, 1]]) == nil, "one rater")
        #expect(Agreement.fleissKappa([[2, 1], [1, 1]]) == nil, "unequal numbers of raters")
    }

    @Test func medianAndQuartilesAsNumpy() throws {
        let t = try #require(MedianIQR([4.2, 7.5, 1.0, 12.0, 9.9, 3.3, .nan]))
        #expect(t.count == 6)
        #expect(abs(t.lowerQuartile - 3.525) < 1e-12 && abs(t.median - 5.85) < 1e-12 && abs(t.upperQuartile - 9.3) < 1e-12)
        #expect(MedianIQR([]) == nil)
    }
}
