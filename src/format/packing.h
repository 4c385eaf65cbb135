// Dense storage of b-bit codes (b = 2, 3, 4): exactly b bits per weight, no
// per-group padding, except that every row starts on a byte boundary.
//
// Byte layout of one row of n codes c_0 … c_{n-1} (LSB-first bit stream):
//   code i occupies bits [i·b, i·b + b) of the stream, bit j of the stream being
//   bit (j mod 8) of byte j / 8 (bit 0 = least significant). Its least significant
//   bit comes first. The last byte is zero-padded, so a row takes ⌈n·b / 8⌉ bytes:
//     b = 2: 4 codes per byte, c_i at bits 2(i mod 4) of byte i/4;
//     b = 4: 2 codes per byte, c_i in the low nibble for even i, high nibble for odd i;
//     b = 3: 8 codes per 3 bytes, codes may straddle a byte boundary (e.g. c_2 uses
//            bits 6–7 of byte 0 and bit 0 of byte 1).
// A rows×cols matrix is its rows one after another: row r starts at byte
// r · PackedBytes(cols, b), so an inference kernel can address row tiles directly.
#pragma once

#include <cstdint>
#include <vector>

namespace quip {

// Bytes used by n codes of `bits` bits: ⌈n·bits / 8⌉.
int64_t PackedBytes(int64_t n, int bits);

// Packs one row of n codes (each < 2^bits) into PackedBytes(n, bits) bytes.
std::vector<uint8_t> PackCodes(const uint8_t* codes, int64_t n, int bits);
// Writes PackedBytes(n, bits) bytes to `packed`.
void PackCodesInto(const uint8_t* codes, int64_t n, int bits, uint8_t* packed);
// Reads n codes from PackedBytes(n, bits) bytes.
void UnpackCodes(const uint8_t* packed, int64_t n, int bits, uint8_t* out);

// Row-major rows×cols codes ↔ rows·PackedBytes(cols, bits) bytes (each row byte-aligned).
std::vector<uint8_t> PackMatrix(const uint8_t* codes, int64_t rows, int64_t cols, int bits);
void UnpackMatrix(const uint8_t* packed, int64_t rows, int64_t cols, int bits, uint8_t* out);

}  // namespace quip
