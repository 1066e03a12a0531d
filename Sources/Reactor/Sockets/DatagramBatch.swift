import CReactor
import Glibc

/// Caller-owned memory for many datagrams at once: `capacity` slots of `slotSize` bytes, with
/// the headers recvmmsg(2) and sendmmsg(2) need, allocated once and reused for every batch,
/// so a batched receive or send allocates nothing per datagram.
///
/// `Reactor.sockRecvfrom(_:into:)` fills it from the first slot; `Reactor.sockSendto(_:_:)`
/// sends every message in it. A batch received on an unconnected socket names each sender,
/// so sending the same batch back is an echo. Not thread-safe: use one batch in one task at a
/// time, on the loop thread of the reactor whose socket it is passed to.
///
/// Segmentation offload: a message with a `segmentSize` stands for several datagrams of that
/// size (the last may be shorter) to one address, which the kernel cuts up (UDP_SEGMENT), and a
/// socket with `SocketOption.udpReceiveOffload` may receive several datagrams of one sender as
/// one such message (UDP_GRO). Give such a batch slots of 65,536 bytes.
public final class DatagramBatch {
    /// How many datagrams (or segmented messages) the batch holds at most.
    public let capacity: Int
    /// The most bytes one slot holds.
    public let slotSize: Int
    /// How many messages the batch holds now.
    public private(set) var count = 0
    /// The messages the last `sockSendto` of this batch could not send, each with the kernel's
    /// refusal (an unreachable destination, a datagram too long, a bad segment size): the
    /// other messages went out.
    public private(set) var refusals: [(index: Int, error: SystemCallError)] = []
    var raw: cr_datagram_batch
    private let memory: UnsafeMutableRawPointer

    /// One message of the batch: a datagram, or with a segment size several.
    public struct Message {
        /// Its bytes, valid until the batch is next filled, cleared or released.
        public let bytes: UnsafeRawBufferPointer
        /// The sender (received) or destination (to send); nil to send on a connected socket.
        public let address: SocketAddress?
        /// The datagram was longer than the slot: `bytes` is its start, the rest was dropped.
        public let isTruncated: Bool
        /// With offload, the size of each datagram in `bytes` but the last; nil for one datagram.
        public let segmentSize: Int?
    }

    /// Room for `capacity` datagrams of up to `slotSize` bytes each (65,507 is the most a UDP
    /// datagram over IPv4 can hold; 1,500 covers a datagram that fits an Ethernet frame).
    public init(capacity: Int = 64, slotSize: Int = 2048) {
        precondition(capacity > 0 && capacity <= 1024, "DatagramBatch capacity must be in 1...1024")
        precondition(slotSize > 0, "DatagramBatch slot size must be positive")
        self.capacity = capacity
        self.slotSize = slotSize
        // One block: headers, vectors, addresses, control room, lengths, sizes, flags, bytes.
        let headers = CR_MMSGHDR_SIZE * capacity
        let vectors = MemoryLayout<iovec>.stride * capacity
        let addresses = MemoryLayout<sockaddr_storage>.stride * capacity
        let addressLengths = MemoryLayout<socklen_t>.stride * capacity
        let control = Int(CR_BATCH_CONTROL) * capacity
        let lengths = MemoryLayout<Int>.stride * capacity
        let segmentSizes = MemoryLayout<UInt16>.stride * capacity
        let truncated = capacity
        let sizes = [headers, vectors, addresses, addressLengths, control, lengths, segmentSizes, truncated]
        var offsets: [Int] = []
        var total = 0
        for size in sizes {
            offsets.append(total)
            total += (size + 15) & ~15
        }
        memory = .allocate(byteCount: total + slotSize * capacity, alignment: 16)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: total)
        raw = cr_datagram_batch(
            headers: memory + offsets[0],
            vectors: (memory + offsets[1]).assumingMemoryBound(to: iovec.self),
            addresses: (memory + offsets[2]).assumingMemoryBound(to: sockaddr_storage.self),
            address_lengths: (memory + offsets[3]).assumingMemoryBound(to: socklen_t.self),
            control: (memory + offsets[4]).assumingMemoryBound(to: CChar.self),
            bytes: (memory + total).assumingMemoryBound(to: UInt8.self),
            lengths: (memory + offsets[5]).assumingMemoryBound(to: Int.self),
            segment_sizes: (memory + offsets[6]).assumingMemoryBound(to: UInt16.self),
            truncated: (memory + offsets[7]).assumingMemoryBound(to: UInt8.self),
            slot_size: slotSize,
            capacity: UInt32(capacity))
    }

    deinit { memory.deallocate() }

    /// Message `index` (0..<count).
    public subscript(index: Int) -> Message {
        precondition(index >= 0 && index < count, "DatagramBatch index \(index) is not in 0..<\(count)")
        let length = raw.address_lengths[index]
        let segmentSize = Int(raw.segment_sizes[index])
        return Message(
            bytes: UnsafeRawBufferPointer(start: slot(index), count: raw.lengths[index]),
            address: length == 0 ? nil : SocketAddress(storage: raw.addresses + index, length: length),
            isTruncated: raw.truncated[index] != 0,
            segmentSize: segmentSize == 0 ? nil : segmentSize)
    }

    /// Adds a message to send: copies `bytes` into the next slot. `address` nil sends on a
    /// connected socket; `segmentSize` makes it several datagrams of that size, cut up by the
    /// kernel (UDP_SEGMENT). Throws `ReactorError` (`.invalidArgument`) when the batch is full
    /// or the bytes do not fit a slot.
    public func append(_ bytes: UnsafeRawBufferPointer, to address: SocketAddress? = nil, segmentSize: Int? = nil) throws {
        guard count < capacity else { throw ReactorError(.invalidArgument, "the batch is full (\(capacity) messages)") }
        guard bytes.count <= slotSize else {
            throw ReactorError(.invalidArgument, "\(bytes.count) bytes do not fit a slot of \(slotSize)")
        }
        if let segmentSize, !(1...Int(UInt16.max)).contains(segmentSize) {
            throw ReactorError(.invalidArgument, "segment size \(segmentSize) is not in 1...65535")
        }
        if let base = bytes.baseAddress { slot(count).copyMemory(from: base, byteCount: bytes.count) }
        raw.lengths[count] = bytes.count
        if let address {
            address.withUnsafeStorage { UnsafeMutableRawPointer(raw.addresses + count).copyMemory(from: $0, byteCount: MemoryLayout<sockaddr_storage>.size) }
            raw.address_lengths[count] = address.length
        } else {
            raw.address_lengths[count] = 0
        }
        raw.segment_sizes[count] = UInt16(segmentSize ?? 0)
        raw.truncated[count] = 0
        count += 1
    }

    /// Adds a message to send, from an array's storage (see `append(_:to:segmentSize:)`).
    public func append(_ bytes: [UInt8], to address: SocketAddress? = nil, segmentSize: Int? = nil) throws {
        try bytes.withUnsafeBytes { try append($0, to: address, segmentSize: segmentSize) }
    }

    /// Empties the batch, keeping its memory.
    public func removeAll() {
        count = 0
        refusals.removeAll(keepingCapacity: true)
    }

    /// The memory of slot `index`.
    private func slot(_ index: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(raw.bytes + index * slotSize)
    }

    /// Set by a receive: the batch now holds `received` messages.
    func didReceive(_ received: Int) { count = received }

    /// Set by a send: message `index` was refused.
    func refuse(_ index: Int, _ error: SystemCallError) { refusals.append((index, error)) }

    /// Set by a send before it starts.
    func forgetRefusals() { refusals.removeAll(keepingCapacity: true) }
}
