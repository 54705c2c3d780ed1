/*
 * cli/src/libarchive.h
 *	  libarchive, loaded with dlopen when a deploy packs its archive rather
 *	  than linked: linked, it brings libxml2, ICU and libstdc++ into every
 *	  cpub process, about 1.8 ms of start-up that cpub invoke would pay on
 *	  each call (bench/README.md).
 */
#ifndef CPUB_LIBARCHIVE_H
#define CPUB_LIBARCHIVE_H

#include <archive.h>
#include <archive_entry.h>

/* The functions pack.c uses, as libarchive declares them. */
#define LIBARCHIVE_FUNCTIONS(X)                                               \
	X(archive_write_new)                                                      \
	X(archive_write_set_format_pax_restricted)                                \
	X(archive_write_set_format_option)                                        \
	X(archive_write_add_filter_gzip)                                          \
	X(archive_write_set_filter_option)                                        \
	X(archive_write_set_bytes_in_last_block)                                  \
	X(archive_write_open)                                                     \
	X(archive_write_header)                                                   \
	X(archive_write_data)                                                     \
	X(archive_write_close)                                                    \
	X(archive_write_free)                                                     \
	X(archive_error_string)                                                   \
	X(archive_set_error)                                                      \
	X(archive_entry_new)                                                      \
	X(archive_entry_clear)                                                    \
	X(archive_entry_free)                                                     \
	X(archive_entry_set_filetype)                                             \
	X(archive_entry_set_perm)                                                 \
	X(archive_entry_set_size)                                                 \
	X(archive_entry_set_pathname)                                             \
	X(archive_entry_set_uid)                                                  \
	X(archive_entry_set_gid)                                                  \
	X(archive_entry_set_mtime)

#define LIBARCHIVE_POINTER(name) __typeof__(name) *name;
struct libarchive
{
	LIBARCHIVE_FUNCTIONS(LIBARCHIVE_POINTER)
};
#undef LIBARCHIVE_POINTER

/*
 * libarchive_load: libarchive's functions, loaded on the first call.
 * Returns the table (static), or NULL with *err set (malloc'd, the caller
 * frees it) when the library or one of its functions is missing.
 */
extern const struct libarchive *libarchive_load(char **err);

#endif
