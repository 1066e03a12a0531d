import Foundation
import TestSupport
import XCTest

@testable import Reactor

/// Asserts that `body` throws a `ReactorError` with `code`.
func assertThrowsReactorError<T>(
    _ code: ReactorError.Code, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T
) {
    do {
        _ = try body()
        XCTFail("no error; expected ReactorError \(code)", file: file, line: line)
    } catch let error as ReactorError {
        XCTAssertEqual(error.code, code, error.message, file: file, line: line)
    } catch {
        XCTFail("\(error); expected ReactorError \(code)", file: file, line: line)
    }
}



