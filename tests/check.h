/*
 * Minimal assertions for the unit test programs.  Each CHECK counts; the
 * program ends with check_summary(), which prints "N passed, N failed" and
 * returns the exit status.
 */
#ifndef DOHSTUB_TESTS_CHECK_H
#define DOHSTUB_TESTS_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond) do {						\
	if (cond)							\
		check_passed++;						\
	else {								\
		check_failed++;						\
		fprintf(stderr, "%s:%d: CHECK failed: %s\n",		\
		    __FILE__, __LINE__, #cond);				\
	}								\
} while (0)

#define CHECK_EQ(a, b) do {						\
	long long check_a_ = (long long)(a), check_b_ = (long long)(b);	\
	if (check_a_ == check_b_)					\
		check_passed++;						\
	else {								\
		check_failed++;						\
		fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s "	\
		    "(%lld != %lld)\n", __FILE__, __LINE__, #a, #b,	\
		    check_a_, check_b_);				\
	}								\
} while (0)

#define CHECK_STR(a, b) do {						\
	const char *check_sa_ = (a), *check_sb_ = (b);			\
	if (check_sa_ != NULL && check_sb_ != NULL &&			\
	    strcmp(check_sa_, check_sb_) == 0)				\
		check_passed++;						\
	else {								\
		check_failed++;						\
		fprintf(stderr, "%s:%d: CHECK_STR failed: %s == %s "	\
		    "(\"%s\" != \"%s\")\n", __FILE__, __LINE__, #a, #b,	\
		    check_sa_ ? check_sa_ : "(null)",			\
		    check_sb_ ? check_sb_ : "(null)");			\
	}								\
} while (0)

static inline int
check_summary(void)
{
	printf("%d passed, %d failed\n", check_passed, check_failed);
	return check_failed == 0 && check_passed > 0 ? 0 : 1;
}

#endif
