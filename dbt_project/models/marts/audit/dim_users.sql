-- CRM users, current state (the latest users snapshot), typed: humans and one user per agent.
select * from {{ ref('dim_crm_users') }}
