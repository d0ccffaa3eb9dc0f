/**
 * `FrameScanner`: where the MessagePack values of a connection's byte stream end, found read by
 * read without decoding them, so the link hands `MsgPack.unpack` whole values only.
 *
 * @internal
 */

/**
 * Finds where the MessagePack values of a byte stream end, read by read, without decoding them:
 * so the link hands `MsgPack.unpack` whole values only. Given an incomplete value, `unpack` copies
 * it into a fresh array with every further read (a 4 MB fetch answer was copied about three times
 * over, into fresh memory); given whole values it decodes them in place.
 *
 * It knows the MessagePack that `MsgPack.pack` writes for plain data (see `measure` in wire.ts): nil,
 * booleans, numbers, strings, binaries, arrays, maps, `undefined` (fixext 1, type 0), and msgpackr's
 * records (fixext 1 type 0x72 defines a record from the key array after it; bytes 0x40..0x7f then
 * name a record defined earlier in the same value). Anything else makes it give up (`lost`): the
 * link then hands reads over as they come, as before. Should it disagree with the decoder on
 * where a value ends, the link sees the decoder make another number of items than `items` says,
 * and stops using it; values called complete too early still decode (`unpack` keeps the rest).
 */
export class FrameScanner {
  /** Bytes fed so far. */
  fed = 0
  /** Bytes fed up to the end of the last complete top-level value. */
  boundary = 0
  /**
   * Items `MsgPack.unpack` makes of the values up to `boundary` (it flattens one level: an array
   * value gives its elements), to check it agrees.
   */
  items = 0
  /** Set once a byte sequence it does not know was met; it tells nothing more after that. */
  lost = false
  /** Items of the current top-level value. */
  private top = 0
  /** Values still to read in the current top-level value (0 at a boundary). */
  private pending = 0
  /** Payload bytes (of a string or binary) still to skip. */
  private skip = 0
  /** A token header split across reads. */
  private readonly header = new Uint8Array(9)
  private headerLength = 0
  /** The record being defined: its key array comes next (-1 none). */
  private defining = -1
  /** Values per record id, for records defined in the current top-level value. */
  private readonly records: Array<number | undefined> = []

  /** Reads the bytes of one read. */
  feed(bytes: Uint8Array): void {
    if (this.lost) return
    const start = this.fed
    this.fed += bytes.length
    let at = 0
    const end = bytes.length
    while (at < end) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, end - at)
        this.skip -= n
        at += n
      } else if (this.headerLength > 0) {
        const size = headerSize(this.header[0]!)
        const n = Math.min(size - this.headerLength, end - at)
        this.header.set(bytes.subarray(at, at + n), this.headerLength)
        this.headerLength += n
        at += n
        if (this.headerLength < size) return
        this.headerLength = 0
        if (!this.token(this.header, 0)) return
      } else {
        const size = headerSize(bytes[at]!)
        if (size === 0) return this.lose()
        if (at + size > end) {
          this.header.set(bytes.subarray(at, end))
          this.headerLength = end - at
          return
        }
        const ok = this.token(bytes, at)
        at += size
        if (!ok) return
      }
      if (this.pending === 0 && this.skip === 0 && this.defining < 0) {
        this.boundary = start + at
        this.items += this.top
        this.records.length = 0
      }
    }
  }

  private lose(): void {
    this.lost = true
  }

  /** Handles one whole token header at `at`: counts the values and bytes that follow it. */
  private token(b: Uint8Array, at: number): boolean {
    const first = b[at]!
    if (this.pending === 0 && this.defining < 0) {
      this.pending = 1
      this.top = first >= 0x90 && first <= 0x9f ? first - 0x90 : first === 0xdc ? u16(b, at + 1) : first === 0xdd ? u32(b, at + 1) : 1
    }
    this.pending--
    if (this.defining >= 0) {
      // A record's key array: then one value per key, and one per key again for the record.
      const count = first >= 0x90 && first <= 0x9f ? first - 0x90 : first === 0xdc ? u16(b, at + 1) : first === 0xdd ? u32(b, at + 1) : -1
      if (count < 0) return this.fail()
      this.records[this.defining] = count
      this.defining = -1
      this.pending += 2 * count
      return true
    }
    if (first < 0x40 || first >= 0xe0) return true
    if (first < 0x80) {
      this.pending += this.records[first & 0x3f] ?? 0
      return true
    }
    if (first < 0x90) this.pending += 2 * (first - 0x80)
    else if (first < 0xa0) this.pending += first - 0x90
    else if (first < 0xc0) this.skip = first - 0xa0
    else {
      switch (first) {
        case 0xc4:
        case 0xd9:
          this.skip = b[at + 1]!
          break
        case 0xc5:
        case 0xda:
          this.skip = u16(b, at + 1)
          break
        case 0xc6:
        case 0xdb:
          this.skip = u32(b, at + 1)
          break
        case 0xd4:
          if (b[at + 1] === 0x72) {
            this.defining = b[at + 2]! & 0x3f
            this.pending++
          } else if (b[at + 1] !== 0x00) return this.fail()
          break
        case 0xdc:
          this.pending += u16(b, at + 1)
          break
        case 0xdd:
          this.pending += u32(b, at + 1)
          break
        case 0xde:
          this.pending += 2 * u16(b, at + 1)
          break
        case 0xdf:
          this.pending += 2 * u32(b, at + 1)
          break
      }
    }
    return true
  }

  private fail(): boolean {
    this.lost = true
    return false
  }
}

const u16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!
const u32 = (b: Uint8Array, at: number) => ((b[at]! << 24) >>> 0) + (b[at + 1]! << 16) + (b[at + 2]! << 8) + b[at + 3]!

/**
 * Bytes of the token header that starts with `first` (the type byte and what gives its length or
 * value, not a string's or binary's payload); 0 for what `FrameScanner` does not know.
 */
const headerSize = (first: number): number => {
  if (first < 0xc0 || first >= 0xe0) return 1
  switch (first) {
    case 0xc0:
    case 0xc2:
    case 0xc3:
      return 1
    case 0xc4:
    case 0xcc:
    case 0xd0:
    case 0xd9:
      return 2
    case 0xc5:
    case 0xcd:
    case 0xd1:
    case 0xda:
    case 0xdc:
    case 0xde:
      return 3
    case 0xd4:
      return 3
    case 0xc6:
    case 0xca:
    case 0xce:
    case 0xd2:
    case 0xdb:
    case 0xdd:
    case 0xdf:
      return 5
    case 0xcb:
    case 0xcf:
    case 0xd3:
      return 9
    default:
      return 0
  }
}
