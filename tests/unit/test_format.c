/*
 * test_format.c — the VDE v2 layouts: trailers catch damage, misdirection and lost
 * writes; every structure survives encode then decode; the superblock group refuses a
 * foreign file, a newer major version and a copy mixed from two writes.
 */
#include "harness.h"

#include <string.h>

#include "core/endian.h"
#include "vde/format.h"

static unsigned char block[65536] __attribute__((aligned(64)));

static void trailers_catch_flips_misdirection_and_stale_generations(void **state)
{
    (void)state;
    for (uint32_t size = DW_BLOCK_SIZE_MIN; size <= DW_BLOCK_SIZE_MAX; size *= 2) {
        memset(block, 0xa5, size);
        uint64_t address = 7 * (uint64_t)size;
        dw_trailer_seal(block, size, address, DW_BLOCK_DATA, 42);
        assert_int_equal(dw_trailer_verify(block, size, address, DW_BLOCK_DATA, true, 42), DW_TRAILER_OK);
        assert_int_equal(dw_trailer_type(block, size), DW_BLOCK_DATA);
        assert_int_equal(dw_trailer_generation(block, size), 42);
        /* The same bytes read from another address: a misdirected write. */
        assert_int_equal(dw_trailer_verify(block, size, address + size, DW_BLOCK_DATA, true, 42),
                         DW_TRAILER_CHECKSUM);
        assert_int_equal(dw_trailer_verify(block, size, address, DW_BLOCK_INODES, false, 0), DW_TRAILER_TYPE);
        assert_int_equal(dw_trailer_verify(block, size, address, DW_BLOCK_DATA, true, 43),
                         DW_TRAILER_GENERATION);
        /* Any single flipped bit, trailer included, fails the checksum. */
        for (uint32_t bit = 0; bit < size * 8; bit += size / 8 + 1) {
            block[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            assert_int_equal(dw_trailer_verify(block, size, address, 0, false, 0), DW_TRAILER_CHECKSUM);
            block[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        }
    }
    memset(block, 0, 4096);
    assert_int_equal(dw_trailer_verify(block, 4096, 0, 0, false, 0), DW_TRAILER_CHECKSUM); /* a zero block */
    char text[5];
    dw_block_type_text(DW_BLOCK_INDEX_LEAF, text);
    assert_string_equal(text, "IXLF");
}

static dw_super_copy sample_copy(uint32_t unit_size)
{
    dw_super_copy copy;
    memset(&copy, 0, sizeof copy);
    copy.super.format_version = DW_FORMAT_VERSION;
    copy.super.min_reader_version = DW_FORMAT_VERSION;
    copy.super.min_writer_version = DW_FORMAT_VERSION;
    copy.super.incompat = DW_INCOMPAT_KNOWN;
    copy.super.ro_compat = DW_RO_COMPAT_TAGS;
    copy.super.compat = DW_COMPAT_SPARSE;
    copy.super.module_manifest = DW_MODULES_IMPLEMENTED;
    copy.super.module_config[2] = 0x40;
    copy.super.block_size = 4096;
    copy.super.unit_size = unit_size;
    copy.super.block_count = 123456;
    copy.super.sequence = 77;
    copy.super.checkpoint_lsn = 999;
    copy.super.checkpoint_seq = 55;
    for (int i = 0; i < 16; i++) {
        copy.super.uuid[i] = (uint8_t)(i * 13);
    }
    strcpy(copy.super.anchor, "dw://000d1a27344e5b68758290");
    copy.super.created_ns = 1;
    copy.super.mount_count = 3;
    copy.super.state = DW_STATE_DIRTY;
    strcpy(copy.super.writer_node, "recorder-7");
    copy.super.writer_pid = 4242;
    copy.super.expected_size_bytes = 123456ull * 4096;
    copy.super.generation_next = 0x100000003ull;
    copy.regions.count = 3;
    copy.regions.slots[0] = (dw_region){DW_REGION_WAL, 0, DW_MODULE_WAL, 10, 4096, 0};
    copy.regions.slots[1] = (dw_region){DW_REGION_INODE_TABLE, 0, DW_MODULE_INODES, 4106, 900, 9000};
    copy.regions.slots[2] = (dw_region){DW_REGION_ALLOC_GROUPS, 0, DW_MODULE_ALLOC, 5006, 118449, 32768};
    dw_inode_layout_for(true, &copy.extended.inode_layout);
    copy.extended.group_blocks = 32768;
    copy.extended.group_bitmap_blocks = 2;
    copy.extended.group_count = 4;
    copy.extended.inode_count = 9000;
    copy.extended.inodes_per_block = 9;
    copy.extended.state.index_root = 6000;
    copy.extended.state.index_height = 2;
    copy.extended.state.object_count = 10;
    strcpy(copy.extended.label, "flight recorder");
    return copy;
}

static unsigned char units[8 * 8192] __attribute__((aligned(64)));

static void superblock_copies_round_trip_and_refuse_what_they_must(void **state)
{
    (void)state;
    for (uint32_t unit_size = 4096; unit_size <= 8192; unit_size *= 2) {
        dw_super_copy copy = sample_copy(unit_size);
        dw_super_encode(&copy, units, 0);
        copy.super.sequence = 78;
        dw_super_encode(&copy, units + 4 * (size_t)unit_size, 4);
        dw_super_copy decoded;
        uint32_t bad = 99;
        char detail[200];
        assert_int_equal(dw_super_decode(units, unit_size, 0, &decoded, &bad, detail, sizeof detail), DW_SUPER_OK);
        assert_int_equal(decoded.super.sequence, 77);
        assert_int_equal(decoded.super.block_count, 123456);
        assert_int_equal(decoded.super.checkpoint_lsn, 999);
        assert_int_equal(decoded.super.generation_next, 0x100000003ull);
        assert_string_equal(decoded.super.writer_node, "recorder-7");
        assert_memory_equal(decoded.super.uuid, copy.super.uuid, 16);
        assert_int_equal(decoded.regions.count, 3);
        assert_int_equal(decoded.regions.slots[2].param, 32768);
        assert_int_equal(decoded.extended.inode_layout.inode_size, 448);
        assert_int_equal(decoded.extended.state.index_root, 6000);
        assert_string_equal(decoded.extended.label, "flight recorder");
        assert_int_equal(dw_super_decode(units + 4 * (size_t)unit_size, unit_size, 4, &decoded, &bad, detail,
                                         sizeof detail),
                         DW_SUPER_OK);
        assert_int_equal(decoded.super.sequence, 78);
        /* The mirror's units are sealed for their own addresses: swapped copies fail. */
        assert_int_equal(dw_super_decode(units + 4 * (size_t)unit_size, unit_size, 0, &decoded, &bad, detail,
                                         sizeof detail),
                         DW_SUPER_DAMAGED);

        /* A unit from another write (the mirror's extended unit re-sealed here) breaks the
         * anchor, and its generation names it. */
        static unsigned char mixed[4 * 8192];
        memcpy(mixed, units, 4 * (size_t)unit_size);
        memcpy(mixed + 2 * (size_t)unit_size, units + 6 * (size_t)unit_size, unit_size);
        dw_trailer_seal(mixed + 2 * (size_t)unit_size, unit_size, 2 * (uint64_t)unit_size, DW_BLOCK_EXTENDED, 78);
        assert_int_equal(dw_super_decode(mixed, unit_size, 0, &decoded, &bad, detail, sizeof detail), DW_SUPER_DAMAGED);
        assert_int_equal(bad, 2);
        assert_non_null(strstr(detail, "unit 2 is from another write"));

        /* A flipped bit in the regions unit names that unit. */
        units[unit_size + 100] ^= 4;
        assert_int_equal(dw_super_decode(units, unit_size, 0, &decoded, &bad, detail, sizeof detail), DW_SUPER_DAMAGED);
        assert_int_equal(bad, 1);
        assert_non_null(strstr(detail, "unit 1"));
        units[unit_size + 100] ^= 4;

        /* A newer major version is a VDE, refused as one; other bytes are not a VDE. */
        units[4] = DW_FORMAT_MAJOR + 1;
        assert_int_equal(dw_super_decode(units, unit_size, 0, &decoded, &bad, detail, sizeof detail), DW_SUPER_VERSION);
        assert_non_null(strstr(detail, "format version 3."));
        units[4] = DW_FORMAT_MAJOR;
        memcpy(units, "\x7f" "ELF", 4);
        assert_int_equal(dw_super_decode(units, unit_size, 0, &decoded, &bad, detail, sizeof detail), DW_SUPER_NOT_VDE);
    }
}

static void inodes_round_trip_with_and_without_tags(void **state)
{
    (void)state;
    for (int tags = 0; tags <= 1; tags++) {
        dw_inode_layout layout;
        dw_inode_layout_for(tags != 0, &layout);
        assert_int_equal(layout.inode_size, tags ? 448 : 320);
        assert_int_equal(layout.inline_max, 192);
        assert_true(dw_inodes_per_block(4096, layout.inode_size) >= 9);
        assert_true(dw_inodes_per_block(512, layout.inode_size) >= 1);
        dw_inode inode;
        memset(&inode, 0, sizeof inode);
        inode.flags = DW_INODE_USED | DW_INODE_EXTENT_BLOCK;
        inode.generation = 9;
        inode.size = 1u << 30;
        inode.mtime_ns = 12345;
        inode.key_hash = 0xfeedfacecafebeefull;
        inode.extent_count = 20;
        inode.key_length = 16;
        inode.extent_block = 777;
        inode.extent_block_generation = 5;
        for (uint32_t i = 0; i < DW_INODE_EXTENTS; i++) {
            inode.extents[i] = (dw_extent){i * 1000, 5000 + i * 2000, 1000, 3};
        }
        if (tags) {
            inode.tag_bytes = 5;
            memcpy(inode.tags, "\x01\x02kvv", 5);
        }
        unsigned char bytes[512];
        dw_inode_encode(&inode, &layout, bytes);
        dw_inode decoded;
        assert_true(dw_inode_decode(bytes, &layout, &decoded));
        assert_int_equal(decoded.size, inode.size);
        assert_int_equal(decoded.extent_block, 777);
        assert_int_equal(decoded.extents[7].start, 5000 + 7 * 2000);
        assert_int_equal(decoded.tag_bytes, tags ? 5 : 0);
        /* Inline values live where the extents would. */
        memset(&inode, 0, sizeof inode);
        inode.flags = DW_INODE_USED | DW_INODE_INLINE;
        inode.size = 100;
        inode.inline_bytes = 100;
        memset(inode.inline_data, 'x', 100);
        dw_inode_encode(&inode, &layout, bytes);
        assert_true(dw_inode_decode(bytes, &layout, &decoded));
        assert_memory_equal(decoded.inline_data, inode.inline_data, 100);
        /* A free inode is zero and does not decode. */
        memset(&inode, 0, sizeof inode);
        dw_inode_encode(&inode, &layout, bytes);
        for (uint32_t i = 0; i < layout.inode_size; i++) {
            assert_int_equal(bytes[i], 0);
        }
        assert_false(dw_inode_decode(bytes, &layout, &decoded));
    }
}

static void wal_headers_and_entries_round_trip(void **state)
{
    (void)state;
    dw_wal_header header = {.lsn = 1000, .first_seq = 5, .last_seq = 9, .page_count = 600,
                            .entry_blocks = 2, .payload_checksum = 0x1234};
    header.state.index_root = 42;
    header.state.object_count = 7;
    dw_wal_header_encode(&header, block);
    dw_wal_header decoded;
    assert_true(dw_wal_header_decode(block, &decoded));
    assert_int_equal(decoded.lsn, 1000);
    assert_int_equal(decoded.page_count, 600);
    assert_int_equal(decoded.state.index_root, 42);
    assert_int_equal(decoded.state.object_count, 7);
    block[0] ^= 1;
    assert_false(dw_wal_header_decode(block, &decoded));
    /* 600 pages: (4096 - 16 - 112) / 16 = 248 in the header, 255 in each WALE block. */
    assert_int_equal(dw_wal_header_entries(4096), 248);
    assert_int_equal(dw_wal_entries_per_block(4096), 255);
    assert_int_equal(dw_wal_entry_blocks(4096, 248), 0);
    assert_int_equal(dw_wal_entry_blocks(4096, 249), 1);
    assert_int_equal(dw_wal_entry_blocks(4096, 600), 2);
    dw_wal_entry entry = {.home = 99999, .type = DW_BLOCK_INODES, .generation = 17};
    dw_wal_entry back;
    dw_wal_entry_encode(&entry, block);
    dw_wal_entry_decode(block, &back);
    assert_int_equal(back.home, 99999);
    assert_int_equal(back.type, DW_BLOCK_INODES);
    assert_int_equal(back.generation, 17);
}

static void key_limits_follow_the_block_size(void **state)
{
    (void)state;
    /* Three branch entries of the longest key fit in a node, and a quarter of the block
     * (the configuration's own rule) is always within that. */
    for (uint32_t size = DW_BLOCK_SIZE_MIN; size <= DW_BLOCK_SIZE_MAX; size *= 2) {
        uint32_t limit = dw_index_key_length_limit(size);
        assert_true(3 * dw_index_branch_entry_size(limit) <= size - DW_INDEX_HEADER_SIZE - DW_TRAILER_SIZE);
        assert_true(size / 4 <= limit);
    }
    assert_true(dw_index_key_length_limit(4096) >= 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(trailers_catch_flips_misdirection_and_stale_generations),
        cmocka_unit_test(superblock_copies_round_trip_and_refuse_what_they_must),
        cmocka_unit_test(inodes_round_trip_with_and_without_tags),
        cmocka_unit_test(wal_headers_and_entries_round_trip),
        cmocka_unit_test(key_limits_follow_the_block_size),
    };
    return cmocka_run_group_tests_name("format", tests, NULL, NULL);
}
