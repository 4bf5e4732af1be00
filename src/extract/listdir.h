/* listdir.h: the entry names of one folder, filtered and sorted by strcmp
 * (so walks do not depend on the file system's order). */
#ifndef OVX_EXTRACT_LISTDIR_H
#define OVX_EXTRACT_LISTDIR_H

#include <stddef.h>

/* *names is malloc'd (free with ovx_list_dir_free); keep(name) decides
 * which entries are returned ("." and ".." never are). Returns 0, or -1
 * with errno set when the folder cannot be read or memory runs out. */
int ovx_list_dir(const char *dir, int (*keep)(const char *name), char ***names, size_t *n);
void ovx_list_dir_free(char **names, size_t n);

#endif
