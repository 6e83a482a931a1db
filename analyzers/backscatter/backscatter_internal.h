/* Private helpers shared by the backscatter sources. */
#ifndef D4_BACKSCATTER_INTERNAL_H
#define D4_BACKSCATTER_INTERNAL_H

#include <stdint.h>

#include "d4_backscatter.h"

/* 1 if a is inside prefix *pf. */
int d4_bs_prefix_match(const struct d4_bs_prefix *pf, const uint8_t a[16]);

#endif
