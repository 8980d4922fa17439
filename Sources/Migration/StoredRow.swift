import Foundation
import GRDB

/// One row of the inventory, decoded column by column with a coded error for anything it does not expect.
///
/// The SQLite file lives on disk where a local user (or a bad disk) may change it; a stored value of the wrong
/// type or an unknown word must stop the command with ``MigrationError/Code/inventoryCorrupt`` naming the file,
/// table, row and column — never trap (GRDB's non-optional subscripts do) and never become a plausible default.
/// Rows are selected with `rowid AS row_id` so the error can name the row even when its key is damaged.
struct StoredRow {
    let file: String
    let table: String
    let row: Row

    init(_ row: Row, table: String, file: String) {
        self.row = row
        self.table = table
        self.file = file
    }

    /// The SQLite row id, for messages (`?` when the query did not select it).
    var rowID: String {
        if case let .int64(id) = (row["row_id"] as DatabaseValue).storage { return String(id) }
        return "?"
    }

    func corrupt(_ column: String, _ problem: String) -> MigrationError {
        MigrationError(.inventoryCorrupt, side: .orchestrator,
                       "inventory \(file): table \(table), row \(rowID), column \(column): \(problem)")
    }

    private func value(_ column: String) throws(MigrationError) -> DatabaseValue {
        guard row.hasColumn(column) else { throw corrupt(column, "column is missing") }
        return row[column]
    }

    static func show(_ value: DatabaseValue) -> String {
        switch value.storage {
        case .null: "NULL"
        case let .int64(number): "integer \(number)"
        case let .double(number): "real \(number)"
        case let .string(text): "text '\(text.prefix(40))'"
        case let .blob(data): "a blob of \(data.count) bytes"
        }
    }

    func text(_ column: String) throws(MigrationError) -> String {
        let stored = try value(column)
        guard case let .string(text) = stored.storage else {
            throw corrupt(column, "expected text, found \(Self.show(stored))")
        }
        return text
    }

    func optionalText(_ column: String) throws(MigrationError) -> String? {
        let stored = try value(column)
        if stored.isNull { return nil }
        return try text(column)
    }

    func integer(_ column: String) throws(MigrationError) -> Int64 {
        let stored = try value(column)
        guard case let .int64(number) = stored.storage else {
            throw corrupt(column, "expected an integer, found \(Self.show(stored))")
        }
        return number
    }

    func optionalInteger(_ column: String) throws(MigrationError) -> Int64? {
        let stored = try value(column)
        if stored.isNull { return nil }
        return try integer(column)
    }

    /// An integer that must lie in `range` (ports, counts).
    func int(_ column: String, in range: ClosedRange<Int>) throws(MigrationError) -> Int {
        let number = try integer(column)
        guard let value = Int(exactly: number), range.contains(value) else {
            throw corrupt(column, "\(number) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A time stored as seconds since 1970 (REAL; SQLite may hand back an integer for a whole number).
    func date(_ column: String) throws(MigrationError) -> Date {
        let stored = try value(column)
        let seconds: Double
        switch stored.storage {
        case let .double(number): seconds = number
        case let .int64(number): seconds = Double(number)
        default: throw corrupt(column, "expected a time (seconds since 1970), found \(Self.show(stored))")
        }
        guard seconds.isFinite, seconds >= 0, seconds < 32_503_680_000 else {
            throw corrupt(column, "time \(seconds) is not between 1970 and 3000")
        }
        return Date(timeIntervalSince1970: seconds)
    }

    /// A stored word that must be one of `Word`'s raw values; unknown words are errors, never defaults.
    func word<Word: RawRepresentable & CaseIterable>(_ column: String, as _: Word.Type) throws(MigrationError) -> Word
    where Word.RawValue == String {
        let stored = try text(column)
        guard let word = Word(rawValue: stored) else {
            let known = Word.allCases.map(\.rawValue).joined(separator: ", ")
            throw corrupt(column, "'\(stored.prefix(40))' is not one of \(known)")
        }
        return word
    }

    func optionalWord<Word: RawRepresentable & CaseIterable>(_ column: String, as type: Word.Type) throws(MigrationError) -> Word?
    where Word.RawValue == String {
        if try value(column).isNull { return nil }
        return try word(column, as: type)
    }
}
