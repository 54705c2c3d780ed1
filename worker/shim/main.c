/*
 * worker/shim/main.c
 *	  main of every C function: options from the command line and the
 *	  environment (shim_options_load), then the serve loop around the
 *	  developer's cpub_handle until SIGTERM.  Exit status 0 after SIGTERM,
 *	  1 when it could not serve, 2 for bad options.
 */
#include "shim.h"

int
main(int argc, char **argv)
{
	struct shim_options o;
	int					rc = shim_options_load(&o, argc, argv);

	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (shim_init(&o) != 0)
		return 1;
	return shim_run(&o, cpub_handle) == 0 ? 0 : 1;
}
