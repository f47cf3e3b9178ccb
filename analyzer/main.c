/* SPDX-License-Identifier: MIT */
/*
 * main.c — the perfshim executable. Everything lives in cli.c; this is the only place that turns
 * a result into the process exit status.
 */
#include "cli.h"

int main(int argc, char **argv)
{
    return pa_cli_main(argc, argv);
}
