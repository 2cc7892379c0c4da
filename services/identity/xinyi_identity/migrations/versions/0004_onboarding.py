"""Onboarding cases, trust contracts with their device-key signatures, and handovers between
companies."""

from xinyi_kit.db import estate_rls_sql
from xinyi_kit.schema import execute_script

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE onboarding_cases (
            estate_id uuid NOT NULL REFERENCES estates (estate_id),
            case_id uuid NOT NULL,
            opened_at timestamptz NOT NULL,
            opened_by uuid NOT NULL,
            working_group jsonb NOT NULL,
            situation jsonb NOT NULL,
            baseline jsonb NOT NULL,
            tender_id uuid,
            tender_state varchar(20) NOT NULL DEFAULT '',
            chosen_company_id uuid,
            company_ballot_id uuid,
            trust_model_ballot_id uuid,
            PRIMARY KEY (estate_id, case_id),
            UNIQUE (estate_id)
        );
        CREATE TABLE trust_contracts (
            estate_id uuid NOT NULL REFERENCES estates (estate_id),
            contract_id uuid NOT NULL,
            case_id uuid,
            company_id uuid NOT NULL REFERENCES companies (company_id),
            company_ballot_id uuid,
            terms jsonb NOT NULL,
            payload_json text NOT NULL,
            starts_on date NOT NULL,
            ends_on date NOT NULL,
            drafted_at timestamptz NOT NULL,
            drafted_by uuid NOT NULL,
            signed_at timestamptz,
            ended_on date,
            PRIMARY KEY (estate_id, contract_id),
            CHECK (ends_on > starts_on)
        );
        CREATE TABLE contract_signatures (
            estate_id uuid NOT NULL,
            contract_id uuid NOT NULL,
            party varchar(20) NOT NULL CHECK (party IN ('company', 'approving_body')),
            user_id uuid NOT NULL,
            key_id varchar(64) NOT NULL,
            signature text NOT NULL,
            signed_at timestamptz NOT NULL,
            PRIMARY KEY (estate_id, contract_id, party),
            FOREIGN KEY (estate_id, contract_id) REFERENCES trust_contracts (estate_id, contract_id)
        );
        CREATE TABLE handovers (
            estate_id uuid NOT NULL,
            handover_id uuid NOT NULL,
            outgoing_contract_id uuid NOT NULL,
            reason varchar(20) NOT NULL CHECK (reason IN ('dismissal', 'non_renewal')),
            ballot_id uuid,
            decided_on date NOT NULL,
            notice_ends_on date NOT NULL,
            checklist jsonb NOT NULL,
            refused_from date,
            incoming_contract_id uuid,
            handed_over_on date,
            PRIMARY KEY (estate_id, handover_id),
            UNIQUE (estate_id, outgoing_contract_id),
            FOREIGN KEY (estate_id, outgoing_contract_id)
                REFERENCES trust_contracts (estate_id, contract_id)
        )
        """
    )
    for table in ("onboarding_cases", "trust_contracts", "contract_signatures", "handovers"):
        execute_script(estate_rls_sql(table))
