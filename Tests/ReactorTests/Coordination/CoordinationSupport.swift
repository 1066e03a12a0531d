import Foundation
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

/// Awaits `task` and asserts that it threw `E`.
func assertThrows<E: Error, T>(
    _: E.Type, file: StaticString = #filePath, line: UInt = #line, _ task: Task<T, any Error>
) async {
    do {
        _ = try await task.value
        XCTFail("the task returned; expected \(E.self)", file: file, line: line)
    } catch is E {
    } catch {
        XCTFail("\(error); expected \(E.self)", file: file, line: line)
    }
}

extension Reactor {
    /// Starts `body` as a task on this reactor (its loop thread).
    @discardableResult
    func spawn<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> Task<T, any Error> {
        Task(executorPreference: self) { try await body() }
    }
}

/// Makes `call` twice from a plain thread and blocks the calling (loop) thread until both were
/// made, so that a call which runs in the loop's next turn has not run yet when this returns.
/// Returns whether each call returned without throwing.
func callTwiceFromAPlainThread(_ call: @escaping @Sendable () throws -> Void) -> [Bool] {
    let results = Shared<[Bool]>([])
    let bothMade = DispatchSemaphore(value: 0)
    let thread = Thread {
        results.value.append((try? call()) != nil)
        results.value.append((try? call()) != nil)
        bothMade.signal()
    }
    thread.start()
    XCTAssertEqual(bothMade.wait(timeout: .now() + 20), .success)
    return results.value
}
