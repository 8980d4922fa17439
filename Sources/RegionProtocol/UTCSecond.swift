package import Foundation

/// A whole second of UTC between 1600-01-01 and 9999-12-31 on the proleptic Gregorian calendar, as the text
/// `yyyy-MM-ddTHH:mm:ssZ` that `JSONEncoder`'s `.iso8601` strategy writes for it.
///
/// The range is where that text is plain: before 1582 Foundation switches to the Julian calendar, after 9999 the
/// year has five digits. Outside it, and for any text but the strict form with a real date and time, there is no
/// `UTCSecond`: callers fall back to Foundation.
package struct UTCSecond: Hashable, Sendable {
    /// Seconds since 1970-01-01T00:00:00Z.
    package let secondsSince1970: Int64

    /// 1600-01-01T00:00:00Z.
    static let earliest: Int64 = -11_676_096_000
    /// 9999-12-31T23:59:59Z.
    static let latest: Int64 = 253_402_300_799

    /// The second `date` falls in (its time rounded down), if that is in range and `date` is not within a
    /// microsecond below the next second (where rounding might differ).
    package init?(_ date: Date) {
        let t = date.timeIntervalSince1970
        guard t.isFinite else { return nil }
        let whole = t.rounded(.down)
        guard whole >= Double(Self.earliest), whole <= Double(Self.latest), t - whole < 1 - 1e-6 else { return nil }
        secondsSince1970 = Int64(whole)
    }

    /// Parses exactly `yyyy-MM-ddTHH:mm:ssZ` (20 ASCII bytes) with a month of 1...12, a day that exists in that
    /// month, hours 0...23, minutes and seconds 0...59 and a year of 1600...9999; nil for anything else.
    package init?(text: UnsafeRawBufferPointer) {
        guard text.count == 20 else { return nil }
        func digits(_ at: Int, _ count: Int) -> Int? {
            var value = 0
            for i in at..<(at + count) {
                let b = text[i]
                guard b >= 0x30, b <= 0x39 else { return nil }
                value = value * 10 + Int(b - 0x30)
            }
            return value
        }
        guard text[4] == UInt8(ascii: "-"), text[7] == UInt8(ascii: "-"), text[10] == UInt8(ascii: "T"),
              text[13] == UInt8(ascii: ":"), text[16] == UInt8(ascii: ":"), text[19] == UInt8(ascii: "Z"),
              let year = digits(0, 4), let month = digits(5, 2), let day = digits(8, 2),
              let hour = digits(11, 2), let minute = digits(14, 2), let second = digits(17, 2),
              year >= 1600, (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year),
              hour <= 23, minute <= 59, second <= 59
        else { return nil }
        let days = Self.daysSince1970(year: year, month: month, day: day)
        secondsSince1970 = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    package var date: Date { Date(timeIntervalSince1970: Double(secondsSince1970)) }

    /// Appends the 20 bytes of `yyyy-MM-ddTHH:mm:ssZ`.
    package func write(to out: inout [UInt8]) {
        let s = secondsSince1970
        let days = s >= 0 ? s / 86_400 : (s - 86_399) / 86_400
        let time = Int(s - days * 86_400)
        let (year, month, day) = Self.civil(daysSince1970: days)
        func two(_ v: Int) {
            out.append(UInt8(0x30 + v / 10))
            out.append(UInt8(0x30 + v % 10))
        }
        two(year / 100)
        two(year % 100)
        out.append(UInt8(ascii: "-"))
        two(month)
        out.append(UInt8(ascii: "-"))
        two(day)
        out.append(UInt8(ascii: "T"))
        two(time / 3600)
        out.append(UInt8(ascii: ":"))
        two(time / 60 % 60)
        out.append(UInt8(ascii: ":"))
        two(time % 60)
        out.append(UInt8(ascii: "Z"))
    }

    static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`), year ≥ 1.
    static func daysSince1970(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The proleptic Gregorian date of a day count from 1970-01-01 (Howard Hinnant's `civil_from_days`), for
    /// days in this type's range.
    static func civil(daysSince1970 days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = Int(days) + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
