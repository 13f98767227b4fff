/*
 * Replay main() for the fuzz targets: runs LLVMFuzzerTestOneInput over
 * every file named on the command line, or every file in a named
 * directory, so ctest replays each corpus without libFuzzer.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path)
{
	FILE *fp;
	uint8_t *buf;
	long n;

	if ((fp = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET) != 0) {
		fprintf(stderr, "%s: cannot size\n", path);
		fclose(fp);
		return -1;
	}
	/* An exact-size heap copy, so ASan sees reads past the end. */
	if ((buf = malloc(n > 0 ? (size_t)n : 1)) == NULL ||
	    fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		fprintf(stderr, "%s: cannot read\n", path);
		free(buf);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

int
main(int argc, char *argv[])
{
	struct stat st;
	struct dirent *de;
	DIR *dir;
	char path[4096];
	int i, count = 0, bad = 0;

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == -1) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			bad++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			bad += replay_file(argv[i]) != 0;
			count++;
			continue;
		}
		if ((dir = opendir(argv[i])) == NULL) {
			bad++;
			continue;
		}
		while ((de = readdir(dir)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i],
			    de->d_name);
			bad += replay_file(path) != 0;
			count++;
		}
		closedir(dir);
	}
	printf("replayed %d inputs, %d unreadable\n", count, bad);
	/* An empty corpus is a defect: it would test nothing. */
	return bad == 0 && count > 0 ? 0 : 1;
}
