#!/bin/bash
# devstack/plugin.sh — devstack external plugin for novabsd. devstack sources it as
# `plugin.sh MODE [PHASE]` (stack pre-install|install|post-config|extra|test-config,
# unstack, clean); see devstack's doc/source/plugins.rst.

# shellcheck source=lib/novabsd
source "$(dirname "${BASH_SOURCE[0]}")/lib/novabsd"

if is_service_enabled n-cpu; then
	if [[ $1 == stack && $2 == pre-install ]]; then
		novabsd_check_driver
	elif [[ $1 == stack && $2 == install ]]; then
		echo_summary "Installing novabsd"
		install_novabsd
	elif [[ $1 == stack && $2 == post-config ]]; then
		echo_summary "Configuring novabsd"
		configure_novabsd
	elif [[ $1 == stack && $2 == extra ]]; then
		# start_nova (before this phase) has written $NOVA_CPU_CONF; novabsd takes over n-cpu.
		echo_summary "Starting novabsd as n-cpu"
		start_novabsd
	fi
	if [[ $1 == unstack ]]; then
		stop_novabsd
	fi
	if [[ $1 == clean ]]; then
		cleanup_novabsd
	fi
fi
