/*
 * endian.h — reading and writing little-endian integers in byte buffers. Everything
 * dwvd writes to a file (the VDE, replay logs) is little-endian whatever the machine,
 * and goes through these, never through a struct laid over the bytes.
 */
#ifndef DW_CORE_ENDIAN_H
#define DW_CORE_ENDIAN_H

#include <stdint.h>

static inline void dw_store_le16(unsigned char *at, uint16_t value)
{
    at[0] = (unsigned char)value;
    at[1] = (unsigned char)(value >> 8);
}

static inline void dw_store_le32(unsigned char *at, uint32_t value)
{
    for (int i = 0; i < 4; i++) {
        at[i] = (unsigned char)(value >> (8 * i));
    }
}

static inline void dw_store_le64(unsigned char *at, uint64_t value)
{
    for (int i = 0; i < 8; i++) {
        at[i] = (unsigned char)(value >> (8 * i));
    }
}

static inline uint16_t dw_load_le16(const unsigned char *at)
{
    return (uint16_t)(at[0] | (at[1] << 8));
}

static inline uint32_t dw_load_le32(const unsigned char *at)
{
    uint32_t value = 0;
    for (int i = 3; i >= 0; i--) {
        value = (value << 8) | at[i];
    }
    return value;
}

static inline uint64_t dw_load_le64(const unsigned char *at)
{
    uint64_t value = 0;
    for (int i = 7; i >= 0; i--) {
        value = (value << 8) | at[i];
    }
    return value;
}

#endif /* DW_CORE_ENDIAN_H */
