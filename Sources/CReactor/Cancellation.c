// The concurrency runtime's entry points the fast path calls: the cancellation handler's,
// and the running task's.
#define _GNU_SOURCE
#include "CReactor.h"
#include "Internal.h"

// What withTaskCancellationHandler wraps, for Reactor.park's fast path, and the running task,
// for the parking lot (see Parking.swift, which declares these with @_silgen_name: Swift may
// not name a runtime symbol itself). Not in the header: Swift calls them with its own
// convention, a closure being a function pointer and a context. Left out with the
// PortableCancellation trait.
#ifndef CR_PORTABLE_CANCELLATION
#if !defined(__x86_64__) && !defined(__aarch64__)
#error "the cancellation-handler trampolines are written for Swift's convention on x86_64 and arm64"
#endif
#define CR_SWIFTCALL __attribute__((swiftcall))
extern CR_SWIFTCALL void *swift_task_addCancellationHandler(void *handler, void *context);
extern CR_SWIFTCALL void swift_task_removeCancellationHandler(void *record);

CR_SWIFTCALL void *cr_task_add_cancellation_handler(void *handler, void *context) {
    return swift_task_addCancellationHandler(handler, context);
}

CR_SWIFTCALL void cr_task_remove_cancellation_handler(void *record) {
    swift_task_removeCancellationHandler(record);
}

// The running task, for a wait that parks through the parking lot (ParkingLot.swift): without
// the generic frame and the retain of withUnsafeCurrentTask.
extern CR_SWIFTCALL void *swift_task_getCurrent(void);

CR_SWIFTCALL void *cr_task_current(void) {
    return swift_task_getCurrent();
}
#endif
